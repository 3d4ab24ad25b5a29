//! Limits libcamoe_jni.so's exports to `Java_*` and `JNI_OnLoad`: a cdylib otherwise
//! re-exports every `#[no_mangle]` function it links, here the runtime crate's whole
//! `camoe_*` C ABI. `--exclude-libs,ALL` keeps the symbols of linked archives (the
//! runtime's rlib among them) out of the dynamic symbol table; rustc's own version script
//! already hides everything else. (A second version script of ours would clash with
//! rustc's when its script uses a version tag.)

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os == "linux" || os == "android" {
        println!("cargo:rustc-cdylib-link-arg=-Wl,--exclude-libs,ALL");
    }
}
