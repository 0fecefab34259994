use super::*;

fn manifest_of(instance: &InstanceRef, objects: Vec<ManifestObject>) -> Manifest {
    Manifest {
        manifest_version: archive_model::MANIFEST_VERSION,
        instance_id: instance.instance_id(),
        app_id: instance.app_id(),
        archived_at: "2026-01-01T00:00:00Z".into(),
        event_id: "e".into(),
        event_type: "app.instance.process.completed".into(),
        objects,
        skipped_data_elements: Vec::new(),
    }
}

#[test]
fn a_manifest_must_list_the_history_and_the_app_metadata_under_their_keys() {
    let layout = ArchiveLayout::new("archive").unwrap();
    let instance = parse_instance("ttd/my-app/50001/0b6e2a52-5d0e-4a1f-8f0e-2f4a1c9d7e11").unwrap();
    let sha = "ab".repeat(32);
    let entry = |key: String, role| {
        ManifestObject::plain(key, role, 2, sha.clone(), "application/json".into())
    };
    let events = entry(
        layout.instance_events(&instance).unwrap(),
        ObjectRole::InstanceEvents,
    );
    let history = entry(
        layout.process_history(&instance).unwrap(),
        ObjectRole::ProcessHistory,
    );
    let metadata = entry(
        layout.app_metadata("ttd", "my-app", &sha).unwrap(),
        ObjectRole::AppMetadata,
    );
    let whole = manifest_of(
        &instance,
        vec![events.clone(), history.clone(), metadata.clone()],
    );
    assert_eq!(
        manifest_problems(&layout, &instance, &whole),
        Vec::<String>::new()
    );

    let mut renamed = metadata.clone();
    renamed.sha256 = "cd".repeat(32);
    let problems = manifest_problems(
        &layout,
        &instance,
        &manifest_of(&instance, vec![events.clone(), history.clone(), renamed]),
    );
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("app metadata"), "{problems:?}");

    let problems = manifest_problems(
        &layout,
        &instance,
        &manifest_of(&instance, vec![events.clone(), metadata.clone(), metadata]),
    );
    assert_eq!(problems.len(), 2, "{problems:?}");

    let mut old = manifest_of(&instance, Vec::new());
    old.manifest_version = 1;
    assert!(manifest_problems(&layout, &instance, &old).is_empty());
}

#[test]
fn instance_paths() {
    let parsed =
        parse_instance("ttd/my-app/50001/0b6e2a52-5d0e-4a1f-8f0e-2f4a1c9d7e11/").expect("valid");
    assert_eq!(parsed.org, "ttd");
    assert_eq!(parsed.app, "my-app");
    assert_eq!(parsed.party_id, 50001);
    for bad in [
        "ttd/my-app/50001",
        "ttd/my-app/x/0b6e2a52-5d0e-4a1f-8f0e-2f4a1c9d7e11",
        "ttd/my-app/1/not-a-guid",
        "TTD/my-app/1/0b6e2a52-5d0e-4a1f-8f0e-2f4a1c9d7e11",
        "ttd/my-app/1/0b6e2a52-5d0e-4a1f-8f0e-2f4a1c9d7e11/extra",
    ] {
        assert!(parse_instance(bad).is_err(), "{bad}");
    }
}

#[test]
fn a_quarantined_element_is_listed_under_quarantine_and_only_then() {
    let layout = ArchiveLayout::new("archive").unwrap();
    let instance = parse_instance("ttd/my-app/50001/0b6e2a52-5d0e-4a1f-8f0e-2f4a1c9d7e11").unwrap();
    let id = "5f0e0000-0000-4000-8000-000000000001";
    let element = |key: String, quarantined: bool| ManifestObject {
        data_element_id: Some(id.into()),
        quarantined,
        ..ManifestObject::plain(
            key,
            ObjectRole::DataElement,
            2,
            "ab".repeat(32),
            "application/pdf".into(),
        )
    };
    let quarantine_key = layout.quarantined_element(&instance, id).unwrap();
    let data_key = layout.data_element(&instance, id).unwrap();
    let problems =
        |entry| element_key_problems(&layout, &instance, &manifest_of(&instance, vec![entry]));
    assert!(problems(element(quarantine_key.clone(), true)).is_empty());
    assert!(problems(element(data_key.clone(), false)).is_empty());
    assert_eq!(problems(element(data_key, true)).len(), 1);
    let mixed = problems(element(quarantine_key, false));
    assert!(mixed[0].contains("not at"), "{mixed:?}");
}
