//! Every crate's integration tests are one binary, `tests/integration/main.rs`, which declares
//! the other files there as modules. A file it does not declare is never compiled, so its tests
//! could never fail: this test finds such files in every crate of the workspace, and files
//! directly in `tests/`, each of which cargo would link into a binary of its own.

use std::collections::BTreeSet;
use std::path::Path;

/// The names `mod NAME;` declares at the top level of `main`.
fn declared_modules(main: &str) -> BTreeSet<String> {
    main.lines()
        .filter_map(|line| line.trim().strip_prefix("mod "))
        .filter_map(|rest| rest.strip_suffix(';'))
        .map(str::to_owned)
        .collect()
}

/// The module names of the files and module folders beside `main.rs`.
fn module_files(folder: &Path) -> BTreeSet<String> {
    std::fs::read_dir(folder)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter_map(|path| {
            let name = path.file_name()?.to_str()?.to_owned();
            if path.is_dir() {
                path.join("mod.rs").exists().then_some(name)
            } else {
                name.strip_suffix(".rs")
                    .filter(|stem| *stem != "main")
                    .map(str::to_owned)
            }
        })
        .collect()
}

#[test]
fn every_integration_test_file_is_compiled() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut checked = 0;
    for entry in std::fs::read_dir(&crates).unwrap() {
        let tests = entry.unwrap().path().join("tests");
        let loose: Vec<_> = std::fs::read_dir(&tests)
            .into_iter()
            .flatten()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "rs"))
            .collect();
        assert!(
            loose.is_empty(),
            "{loose:?}: move into tests/integration/ and declare there (one test binary per crate)"
        );
        let folder = tests.join("integration");
        let main = folder.join("main.rs");
        let Ok(text) = std::fs::read_to_string(&main) else {
            continue;
        };
        let undeclared: Vec<_> = module_files(&folder)
            .difference(&declared_modules(&text))
            .cloned()
            .collect();
        assert!(
            undeclared.is_empty(),
            "{}: declares no `mod` for {undeclared:?}, so their tests never run",
            main.display()
        );
        checked += 1;
    }
    assert!(
        checked >= 10,
        "only {checked} crates with tests/integration/main.rs found"
    );
}

#[test]
fn an_undeclared_file_is_found() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("main.rs"), "mod kept;\n").unwrap();
    std::fs::write(dir.path().join("kept.rs"), "").unwrap();
    std::fs::write(dir.path().join("forgotten.rs"), "").unwrap();
    std::fs::create_dir(dir.path().join("shared")).unwrap();
    std::fs::write(dir.path().join("shared/mod.rs"), "").unwrap();
    let undeclared: Vec<_> = module_files(dir.path())
        .difference(&declared_modules("mod kept;\n"))
        .cloned()
        .collect();
    assert_eq!(undeclared, ["forgotten", "shared"]);
}
