//! Limits libcamoe_jni.so's exports to `Java_*` and `JNI_OnLoad` with a version script:
//! a cdylib otherwise re-exports every `#[no_mangle]` function it links, here the whole
//! `camoe_*` C ABI of the runtime crate.

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os == "linux" || os == "android" {
        let map =
            std::path::Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("exports.map");
        println!("cargo:rerun-if-changed={}", map.display());
        println!(
            "cargo:rustc-cdylib-link-arg=-Wl,--exclude-libs,ALL,--version-script={}",
            map.display()
        );
    }
}
