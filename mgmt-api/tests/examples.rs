//! Every example configuration in deploy/examples parses, validates and survives a TOML round trip.

use std::path::PathBuf;

use mgmt_api::Config;

fn examples() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_example_config_is_valid() {
    let files = examples();
    assert!(
        files.len() >= 3,
        "expected the example configs, found {files:?}"
    );
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let cfg =
            Config::from_toml_str(&text).unwrap_or_else(|e| panic!("{}:\n{e}", path.display()));
        assert!(!cfg.tenants.is_empty(), "{}", path.display());
        let again = Config::from_toml_str(&cfg.to_toml_string()).unwrap();
        assert_eq!(again, cfg, "{} round trip", path.display());
        let json = Config::from_json_str(&cfg.to_json_string()).unwrap();
        assert_eq!(json, cfg, "{} JSON round trip", path.display());
    }
}
