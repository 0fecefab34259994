//! Sections 3 and 4: streaming archives (one big element, many small ones) against
//! `aws s3 cp` of the same bytes, and how archive time grows with the number of elements.

use std::path::Path;

use bench::archive::{self, ArchiveRig, ChildRun, ScratchDir};
use bench::report::{Row, ratio};
use bench::rss::mib;

use crate::{Options, Sizes, failed, note};

fn mib_per_sec(bytes: u64, seconds: f64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0) / seconds
}

/// Section 3: one big element and many small ones, each archived in a child process (for its
/// peak RSS) and copied with `aws s3 cp`, alternately; the medians are compared.
pub async fn streaming(rig: &ArchiveRig<'_>, options: &Options) -> Vec<Row> {
    let sizes = &options.sizes;
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(error) => return vec![failed("3. streaming archive", &error.to_string())],
    };
    let scratch = match ScratchDir::new("bench-baseline") {
        Ok(dir) => dir,
        Err(error) => return vec![failed("3. streaming archive", &error)],
    };
    let mut rows = Vec::new();
    let cases = [
        (
            format!("1 x {} MiB", sizes.big_bytes >> 20),
            1usize,
            sizes.big_bytes,
            0.9,
            ">= 0.90",
        ),
        (
            format!("{} x {} KiB", sizes.small_count, sizes.small_bytes >> 10),
            sizes.small_count,
            sizes.small_bytes,
            1.0,
            "> 1.00",
        ),
    ];
    for (index, (label, count, size, goal, goal_text)) in cases.into_iter().enumerate() {
        note(format!(
            "streaming archive {label}, {} run(s) of each",
            sizes.streaming_repeats
        ));
        // The baseline's source: the same bytes in local files, one file or a folder of them.
        let source = if count == 1 {
            let path = scratch.path().join(format!("case-{index}.bin"));
            archive::write_random_file(&path, size, index as u64).map(|()| path)
        } else {
            let folder = scratch.path().join(format!("case-{index}"));
            std::fs::create_dir_all(&folder)
                .map_err(|e| e.to_string())
                .and_then(|()| {
                    (0..count).try_for_each(|n| {
                        archive::write_random_file(
                            &folder.join(format!("vedlegg-{n}.bin")),
                            size,
                            (index * 1000 + n) as u64,
                        )
                    })
                })
                .map(|()| folder)
        };
        let source = match source {
            Ok(source) => source,
            Err(error) => {
                rows.push(failed(&format!("3. aws s3 cp {label}"), &error));
                continue;
            }
        };
        let expected = count as u64 * size;
        let case = StreamingCase {
            label: &label,
            count,
            size,
            source: &source,
            key: format!("case-{index}"),
        };
        let (pairs, peak_rss_kib) =
            match timed_pairs(rig, &exe, &options.aws, &case, sizes.streaming_repeats).await {
                Ok(measured) => measured,
                Err((what, error)) => {
                    rows.push(failed(&what, &error));
                    continue;
                }
            };
        let archive_seconds: Vec<f64> = pairs.iter().map(|(archived, _)| *archived).collect();
        let copy_seconds: Vec<f64> = pairs.iter().map(|(_, copied)| *copied).collect();
        let archived_seconds = bench::median(&archive_seconds).unwrap_or_default();
        let baseline_seconds = bench::median(&copy_seconds).unwrap_or_default();
        let archived = mib_per_sec(expected, archived_seconds);
        let copied = mib_per_sec(expected, baseline_seconds);
        let runs = if pairs.len() > 1 {
            format!(", median of {}", pairs.len())
        } else {
            String::new()
        };
        rows.push(Row::new(
            format!("3. archive {label}: throughput"),
            format!("{archived:.1} MiB/s ({archived_seconds:.2} s{runs})"),
            format!("{copied:.1} MiB/s aws s3 cp ({baseline_seconds:.2} s)"),
            ratio(archived, copied),
            goal_text,
            Some(archived / copied >= goal && (goal < 1.0 || archived > copied)),
        ));
        if count == 1 {
            match archive::seal_cost(rig, &format!("case-{index}")).await {
                Ok(seal) => rows.push(Row::new(
                    format!("3. archive {label}: time without the seal"),
                    format!(
                        "{:.2} s ({archived_seconds:.2} s archive - {seal:.2} s CopyObject SHA-256)",
                        archived_seconds - seal,
                    ),
                    format!("{baseline_seconds:.2} s aws s3 cp"),
                    ratio(baseline_seconds, archived_seconds - seal),
                    "-",
                    None,
                )),
                Err(error) => rows.push(failed(&format!("3. seal {label}"), &error)),
            }
        }
        rows.push(Row::new(
            format!("3. archive {label}: peak RSS"),
            format!("{:.1} MiB", mib(peak_rss_kib)),
            "-",
            "-",
            "< 128 MiB",
            Some(mib(peak_rss_kib) < 128.0),
        ));
    }
    rows
}

/// One streaming case: `count` elements of `size` bytes, and the local copy of those bytes that
/// `aws s3 cp` uploads to `key`.
struct StreamingCase<'a> {
    label: &'a str,
    count: usize,
    size: u64,
    source: &'a Path,
    key: String,
}

/// `repeats` (archive seconds, `aws s3 cp` seconds) pairs, run alternately so both see the
/// same state of the machine, and the archiver's largest peak RSS. An error names the row.
async fn timed_pairs(
    rig: &ArchiveRig<'_>,
    exe: &Path,
    aws: &Path,
    case: &StreamingCase<'_>,
    repeats: usize,
) -> Result<(Vec<(f64, f64)>, u64), (String, String)> {
    let label = case.label;
    let expected = case.count as u64 * case.size;
    let mut pairs = Vec::new();
    let mut peak_rss_kib = 0;
    for _ in 0..repeats.max(1) {
        let instance = rig.seed(case.count, case.size);
        let run: ChildRun = rig
            .archive_in_child(exe, &instance)
            .await
            .map_err(|error| (format!("3. archive {label}"), error))?;
        if run.bytes != expected {
            return Err((
                format!("3. archive {label}"),
                format!("archived {} bytes, expected {expected}", run.bytes),
            ));
        }
        peak_rss_kib = peak_rss_kib.max(run.peak_rss_kib);
        let copied = archive::aws_s3_cp(aws, rig, case.source, &case.key)
            .await
            .map_err(|error| (format!("3. aws s3 cp {label}"), error))?;
        pairs.push((run.seconds, copied));
    }
    Ok((pairs, peak_rss_kib))
}

/// Section 4: archive time for 1, 10 and 100 elements, and whether the cost per element grows.
pub async fn scaling(rig: &ArchiveRig<'_>, sizes: &Sizes) -> Vec<Row> {
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(error) => return vec![failed("4. scaling", &error.to_string())],
    };
    let mut medians = Vec::new();
    for count in [1usize, 10, 100] {
        note(format!(
            "scaling: {count} element(s) of {} KiB, {} run(s)",
            sizes.scaling_element_bytes >> 10,
            sizes.scaling_repeats
        ));
        let mut times = Vec::new();
        for _ in 0..sizes.scaling_repeats {
            let instance = rig.seed(count, sizes.scaling_element_bytes);
            match rig.archive_in_child(&exe, &instance).await {
                Ok(run) if run.elements == count => times.push(run.seconds),
                Ok(run) => {
                    return vec![failed(
                        "4. scaling",
                        &format!("{} elements archived, expected {count}", run.elements),
                    )];
                }
                Err(error) => return vec![failed("4. scaling", &error)],
            }
        }
        medians.push(bench::median(&times).unwrap_or_default());
    }
    let [t1, t10, t100] = [medians[0], medians[1], medians[2]];
    let growth = archive::marginal_growth(t1, t10, t100);
    vec![Row::new(
        "4. scaling: archive time, 1 / 10 / 100 elements",
        format!("{:.3} / {:.3} / {:.3} s", t1, t10, t100),
        format!("{:.1} ms/element (10->100)", (t100 - t10) / 90.0 * 1000.0),
        growth.map_or("-".to_owned(), |g| format!("{g:.2}")),
        "marginal cost 10->100 / 1->10 <= 1.5",
        Some(growth.is_some_and(|g| g <= 1.5)),
    )]
}
