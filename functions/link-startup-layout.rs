//! The build script of the webhook and the archiver: links the function with the `startup.ld`
//! next to its Cargo.toml, which places the code its init runs together (written by
//! `make startup-layout`; tools/bench/src/layout.rs says why). Linux targets only, since the
//! script is for ELF linkers; `-Xlinker` keeps a comma in the path intact.
fn main() {
    println!("cargo:rerun-if-changed=startup.ld");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        let script = format!("{}/startup.ld", env!("CARGO_MANIFEST_DIR"));
        for arg in ["-Xlinker", "-T", "-Xlinker", &script] {
            println!("cargo:rustc-link-arg-bins={arg}");
        }
    }
}
