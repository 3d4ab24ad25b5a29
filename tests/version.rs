//! The version agrees everywhere: Cargo.toml, the Rust constants, the header's
//! CAMOE_VERSION_* macros (including the combined number) and camoe_abi_version().

use std::collections::HashMap;

fn header_macros() -> HashMap<String, String> {
    let h =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/include/camoe.h")).unwrap();
    h.lines()
        .filter_map(|l| l.strip_prefix("#define "))
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_owned(), v.trim().to_owned()))
        .collect()
}

#[test]
fn header_cargo_and_abi_versions_agree() {
    let m = header_macros();
    let num = |k: &str| {
        m[k].parse::<u32>()
            .unwrap_or_else(|_| panic!("{k} = {}", m[k]))
    };
    let (major, minor, patch) = (
        num("CAMOE_VERSION_MAJOR"),
        num("CAMOE_VERSION_MINOR"),
        num("CAMOE_VERSION_PATCH"),
    );
    assert_eq!(major.to_string(), env!("CARGO_PKG_VERSION_MAJOR"));
    assert_eq!(minor.to_string(), env!("CARGO_PKG_VERSION_MINOR"));
    assert_eq!(patch.to_string(), env!("CARGO_PKG_VERSION_PATCH"));
    assert_eq!(
        (
            camoe::VERSION_MAJOR,
            camoe::VERSION_MINOR,
            camoe::VERSION_PATCH
        ),
        (major, minor, patch)
    );
    // The combined macro, evaluated by hand from its text, equals the library's number.
    assert_eq!(
        m["CAMOE_VERSION_NUMBER"],
        "((CAMOE_VERSION_MAJOR << 16) | (CAMOE_VERSION_MINOR << 8) | CAMOE_VERSION_PATCH)"
    );
    assert_eq!(
        camoe::ffi::camoe_abi_version(),
        (major << 16) | (minor << 8) | patch
    );
}

#[test]
fn header_status_codes_match_the_library() {
    let m = header_macros();
    use camoe::ffi::*;
    for (name, v) in [
        ("CAMOE_STATUS_OK", CAMOE_STATUS_OK),
        ("CAMOE_STATUS_NULL_ARGUMENT", CAMOE_STATUS_NULL_ARGUMENT),
        ("CAMOE_STATUS_IO", CAMOE_STATUS_IO),
        ("CAMOE_STATUS_BAD_MODEL", CAMOE_STATUS_BAD_MODEL),
        ("CAMOE_STATUS_VERSION", CAMOE_STATUS_VERSION),
        ("CAMOE_STATUS_CHECKSUM", CAMOE_STATUS_CHECKSUM),
        ("CAMOE_STATUS_CAPACITY", CAMOE_STATUS_CAPACITY),
        ("CAMOE_STATUS_BAD_FEATURE", CAMOE_STATUS_BAD_FEATURE),
        ("CAMOE_STATUS_PANIC", CAMOE_STATUS_PANIC),
        (
            "CAMOE_STATUS_INVALID_ARGUMENT",
            CAMOE_STATUS_INVALID_ARGUMENT,
        ),
    ] {
        assert_eq!(m[name].parse::<i32>().unwrap(), v, "{name}");
    }
    // Stable numbers: these exact values are the ABI.
    assert_eq!(
        [
            CAMOE_STATUS_NULL_ARGUMENT,
            CAMOE_STATUS_IO,
            CAMOE_STATUS_BAD_MODEL,
            CAMOE_STATUS_VERSION,
            CAMOE_STATUS_CHECKSUM,
            CAMOE_STATUS_CAPACITY,
            CAMOE_STATUS_BAD_FEATURE,
            CAMOE_STATUS_PANIC
        ],
        [-1, -2, -3, -4, -5, -6, -7, -8]
    );
}
