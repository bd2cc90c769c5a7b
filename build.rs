//! Generates `include/kodo.h` with cbindgen and records build facts for the version request.
//!
//! The header is only rewritten when its content changes, so a build never dirties the tree
//! unless the C API really changed (CI regenerates it and fails on a difference).

use std::env;
use std::fs;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=cbindgen.toml");

    let target = env::var("TARGET").unwrap_or_else(|_| "unknown".into());
    let profile = env::var("PROFILE").unwrap_or_else(|_| "unknown".into());
    println!("cargo:rustc-env=KODO_BUILD_TARGET={target}");
    println!("cargo:rustc-env=KODO_BUILD_PROFILE={profile}");

    let crate_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let version = env::var("CARGO_PKG_VERSION").expect("cargo sets CARGO_PKG_VERSION");
    // WINDOWS SEAM: kodo.dll carries a version resource (Explorer's Details tab, inventory tools).
    if env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("windows") {
        windows_version_resource(&version);
    }
    let mut config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml is readable");
    config.after_includes = Some(format!(
        "\n#define KODO_VERSION \"{version}\"\n\n#ifndef KODO_MUST_USE\n#if defined(__GNUC__) || defined(__clang__)\n#define KODO_MUST_USE __attribute__((warn_unused_result))\n#else\n#define KODO_MUST_USE\n#endif\n#endif"
    ));
    let bindings = match cbindgen::Builder::new().with_crate(&crate_dir).with_config(config).generate() {
        Ok(b) => b,
        Err(e) => {
            // A syntax error in src/ is reported better by rustc itself.
            println!("cargo:warning=cbindgen could not generate include/kodo.h: {e}");
            return;
        }
    };
    let mut text = Vec::new();
    bindings.write(&mut text);
    let header = crate_dir.join("include").join("kodo.h");
    if fs::read(&header).ok().as_deref() != Some(text.as_slice()) {
        fs::create_dir_all(header.parent().expect("header has a parent")).expect("include/ can be created");
        fs::write(&header, &text).expect("include/kodo.h can be written");
    }
}

/// Writes a VERSIONINFO resource for kodo.dll and links it in (mingw's windres, or MSVC's rc, as
/// embed-resource finds them). `compile_for_everything`: plain `compile` reaches executables only.
fn windows_version_resource(version: &str) {
    let numbers: Vec<u16> = version.split(['.', '-', '+']).take(3).map(|n| n.parse().unwrap_or(0)).collect();
    let (major, minor, patch) =
        (numbers[0], numbers.get(1).copied().unwrap_or(0), numbers.get(2).copied().unwrap_or(0));
    let rc = format!(
        r#"#include <winver.h>
1 VERSIONINFO
FILEVERSION {major},{minor},{patch},0
PRODUCTVERSION {major},{minor},{patch},0
FILEFLAGSMASK VS_FFI_FILEFLAGSMASK
FILEFLAGS 0
FILEOS VOS_NT_WINDOWS32
FILETYPE VFT_DLL
FILESUBTYPE VFT2_UNKNOWN
BEGIN
  BLOCK "StringFileInfo"
  BEGIN
    BLOCK "040904b0"
    BEGIN
      VALUE "CompanyName", "Kodo contributors"
      VALUE "FileDescription", "Kodo native core: Microsoft 365 onboarding for KODO for Cloud"
      VALUE "FileVersion", "{version}"
      VALUE "InternalName", "kodo"
      VALUE "LegalCopyright", "(c) Kodo contributors. MIT License."
      VALUE "OriginalFilename", "kodo.dll"
      VALUE "ProductName", "Kodo"
      VALUE "ProductVersion", "{version}"
    END
  END
  BLOCK "VarFileInfo"
  BEGIN
    VALUE "Translation", 0x409, 1200
  END
END
"#
    );
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("kodo.rc");
    fs::write(&out, rc).expect("the resource script can be written");
    if let Err(e) = embed_resource::compile_for_everything(&out, embed_resource::NONE).manifest_optional() {
        println!("cargo:warning=kodo.dll gets no version resource: {e}");
    }
}
