//! Compiles tests/c/smoke.c and tests/c/hostile.c against include/kodo.h with the system C
//! compiler, links them to the cdylib cargo built for this test run (target/<profile>/deps), and
//! runs them.

use std::path::PathBuf;
use std::process::Command;

fn cdylib_dir() -> PathBuf {
    // target/<profile>/deps/c_header-<hash> -> target/<profile>/deps: the cdylib this test run
    // built. (target/<profile>/libkodo.so is the copy of the last `cargo build`, which `cargo
    // test` does not refresh: linking that one tested a stale library.)
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().to_path_buf()
}

/// Compiles `tests/c/<name>.c` against include/kodo.h and the cdylib; returns the program.
fn compile_c(name: &str, extra: &[&str]) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let lib_dir = cdylib_dir();
    let lib = lib_dir.join(if cfg!(target_os = "macos") { "libkodo.dylib" } else { "libkodo.so" });
    assert!(lib.exists(), "{} is missing: cargo builds the cdylib with the tests", lib.display());
    let out = lib_dir.join(format!("kodo-c-{name}"));
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let status = Command::new(&cc)
        .args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"])
        .args(extra)
        .arg("-I")
        .arg(root.join("include"))
        .arg(root.join(format!("tests/c/{name}.c")))
        .arg("-o")
        .arg(&out)
        .arg("-L")
        .arg(&lib_dir)
        .arg("-lkodo")
        .arg(format!("-Wl,-rpath,{}", lib_dir.display()))
        .status()
        .unwrap_or_else(|e| panic!("could not run the C compiler '{cc}': {e}"));
    assert!(status.success(), "tests/c/{name}.c did not compile");
    out
}

fn run_c(program: &PathBuf, envs: &[(&str, &str)]) -> String {
    // cargo test puts target/<profile> on LD_LIBRARY_PATH, which would win over the rpath and
    // load the last `cargo build`'s copy of the library.
    let run = Command::new(program).env_remove("LD_LIBRARY_PATH").envs(envs.iter().copied()).output().unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{} failed ({}):\n{stdout}\n{stderr}", program.display(), run.status);
    assert!(stdout.contains("all checks passed"), "{stdout}");
    stdout.into_owned()
}

#[test]
fn the_header_compiles_and_the_library_works_from_c() {
    let smoke = compile_c("smoke", &[]);
    run_c(&smoke, &[]);
}

/// tests/c/hostile.c: every export with hostile arguments answers with its documented status
/// (NULL, forged, freed and double-freed handles and strings, invalid UTF-8, unknown protocol
/// versions, 100 000 levels of nesting, 50 MB documents, racing frees, calls at thread exit).
#[cfg(unix)]
#[test]
fn every_export_answers_hostile_calls_from_c_with_its_documented_status() {
    let hostile = compile_c("hostile", &["-pthread"]);
    let stdout = run_c(&hostile, &[]);
    println!("{stdout}");
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
