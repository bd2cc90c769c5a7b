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
