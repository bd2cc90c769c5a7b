//! Compiles tests/c/smoke.c against include/kodo.h with the system C compiler, links it to the
//! cdylib cargo built for this test run, and runs it.

use std::path::PathBuf;
use std::process::Command;

fn cdylib_dir() -> PathBuf {
    // target/<profile>/deps/c_header-<hash> -> target/<profile>
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(|p| p.parent()).unwrap().to_path_buf()
}

#[test]
fn the_header_compiles_and_the_library_works_from_c() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let lib_dir = cdylib_dir();
    let lib = lib_dir.join(if cfg!(target_os = "macos") { "libkodo.dylib" } else { "libkodo.so" });
    assert!(lib.exists(), "{} is missing: cargo builds the cdylib with the tests", lib.display());
    let out = lib_dir.join("kodo-c-smoke");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let status = Command::new(&cc)
        .args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"])
        .arg("-I")
        .arg(root.join("include"))
        .arg(root.join("tests/c/smoke.c"))
        .arg("-o")
        .arg(&out)
        .arg("-L")
        .arg(&lib_dir)
        .arg("-lkodo")
        .arg(format!("-Wl,-rpath,{}", lib_dir.display()))
        .status()
        .unwrap_or_else(|e| panic!("could not run the C compiler '{cc}': {e}"));
    assert!(status.success(), "the C smoke test did not compile");
    let run = Command::new(&out).output().unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "C smoke test failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("all checks passed"), "{stdout}");
}

/// The C++ view of the header too (cpp_compat), since hosts may be C++.
#[test]
fn the_header_compiles_as_cpp() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out = cdylib_dir().join("kodo-header-cpp.o");
    let src = cdylib_dir().join("kodo-header-cpp.cpp");
    std::fs::write(
        &src,
        "#include \"kodo.h\"\nint main() { return kodo_protocol_version() == KODO_PROTOCOL_VERSION ? 0 : 1; }\n",
    )
    .unwrap();
    let cxx = std::env::var("CXX").unwrap_or_else(|_| "c++".into());
    let status = Command::new(&cxx)
        .args(["-Wall", "-Werror", "-c"])
        .arg("-I")
        .arg(root.join("include"))
        .arg(&src)
        .arg("-o")
        .arg(&out)
        .status()
        .unwrap_or_else(|e| panic!("could not run the C++ compiler '{cxx}': {e}"));
    assert!(status.success(), "include/kodo.h does not compile as C++");
}
