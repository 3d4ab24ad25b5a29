//! The version agrees everywhere: Cargo.toml, the Rust constants, the header's
//! CAMOE_VERSION_* macros (including the combined number) and camoe_abi_version().

use std::collections::HashMap;

fn header() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/include/camoe.h")).unwrap()
}

/// `#define NAME VALUE` lines and enumerators (`  NAME = VALUE,`) of the header.
fn header_macros() -> HashMap<String, String> {
    header()
        .lines()
        .filter_map(|l| {
            l.strip_prefix("#define ")
                .and_then(|l| l.split_once(' '))
                .or_else(|| l.trim().strip_suffix(',')?.split_once(" = "))
        })
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
fn every_status_has_its_stable_number_name_and_header_constant() {
    use camoe::ffi::camoe_status_name;
    use camoe::Status;
    let m = header_macros();
    let c_name = |code: i32| {
        // SAFETY: camoe_status_name returns a static NUL-terminated string.
        unsafe { std::ffi::CStr::from_ptr(camoe_status_name(code)) }
            .to_str()
            .unwrap()
            .to_owned()
    };
    // These exact numbers are the ABI: a status is never renumbered or reused, so a new
    // one must be added here (and the length check below fails until it is).
    let stable = [
        ("OK", 0),
        ("NULL_ARGUMENT", -1),
        ("IO", -2),
        ("BAD_MODEL", -3),
        ("VERSION", -4),
        ("CHECKSUM", -5),
        ("CAPACITY", -6),
        ("BAD_FEATURE", -7),
        ("PANIC", -8),
        ("INVALID_ARGUMENT", -9),
        ("SIGNATURE", -10),
    ];
    assert_eq!(Status::ALL.len(), stable.len());
    for (&s, (name, code)) in Status::ALL.iter().zip(stable) {
        assert_eq!((s.name(), s as i32), (name, code), "{s:?}");
        assert_eq!(c_name(code), name, "camoe_status_name({code})");
        assert_eq!(Status::from_code(code), Some(s));
        let constant = format!("CAMOE_STATUS_{name}");
        let in_header = m
            .get(&constant)
            .unwrap_or_else(|| panic!("header lacks {constant}"));
        assert_eq!(in_header.parse::<i32>().unwrap(), code, "{constant}");
    }
    let in_header = m.keys().filter(|k| k.starts_with("CAMOE_STATUS_")).count();
    assert_eq!(
        in_header,
        Status::ALL.len(),
        "the header has a status the library lacks"
    );
    assert_eq!(c_name(12345), "UNKNOWN");
    assert_eq!(Status::from_code(1), None);
}

#[test]
fn header_constants_match_the_library() {
    use camoe::ffi::*;
    let m = header_macros();
    for (name, v) in [
        ("CAMOE_VALUE_MISSING", CAMOE_VALUE_MISSING),
        ("CAMOE_VALUE_ID", CAMOE_VALUE_ID),
        ("CAMOE_VALUE_STR", CAMOE_VALUE_STR),
        ("CAMOE_VALUE_DENSE", CAMOE_VALUE_DENSE),
        ("CAMOE_OBJECTIVE_PCTR", CAMOE_OBJECTIVE_PCTR),
        (
            "CAMOE_OBJECTIVE_EXPECTED_VALUE",
            CAMOE_OBJECTIVE_EXPECTED_VALUE,
        ),
        ("CAMOE_SIDE_REQUEST", CAMOE_SIDE_REQUEST),
        ("CAMOE_SIDE_CANDIDATE", CAMOE_SIDE_CANDIDATE),
        ("CAMOE_FIELD_CATEGORICAL", CAMOE_FIELD_CATEGORICAL),
        ("CAMOE_FIELD_DENSE", CAMOE_FIELD_DENSE),
        ("CAMOE_MISSING_USE_DEFAULT", CAMOE_MISSING_USE_DEFAULT),
        ("CAMOE_MISSING_ERROR", CAMOE_MISSING_ERROR),
        ("CAMOE_MODE_F32", CAMOE_MODE_F32),
        ("CAMOE_MODE_F16", CAMOE_MODE_F16),
        ("CAMOE_MODE_INT8", CAMOE_MODE_INT8),
        ("CAMOE_MODE_MIXED", CAMOE_MODE_MIXED),
    ] {
        assert_eq!(m[name].parse::<i32>().unwrap(), v, "{name}");
    }
}
