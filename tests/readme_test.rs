//! The README's generated sections stay equal to the code. `AEON_BLESS=1 cargo test
//! --test readme_test` rewrites them from the code.

use std::path::PathBuf;

fn readme_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("README.md")
}

/// Checks (or, blessed, rewrites) the text between `<!-- name -->` and `<!-- /name -->`.
fn check_section(name: &str, expected: &str) {
    let path = readme_path();
    let readme = std::fs::read_to_string(&path).expect("README.md");
    let open = format!("<!-- {name} -->\n");
    let close = format!("<!-- /{name} -->");
    let start = readme
        .find(&open)
        .unwrap_or_else(|| panic!("README has no {open:?}"))
        + open.len();
    let end = readme
        .find(&close)
        .unwrap_or_else(|| panic!("README has no {close:?}"));
    let expected = format!("{}\n", expected.trim_end());
    if std::env::var("AEON_BLESS").as_deref() == Ok("1") {
        let updated = format!("{}{}{}", &readme[..start], expected, &readme[end..]);
        std::fs::write(&path, updated).expect("write README.md");
        return;
    }
    assert_eq!(
        &readme[start..end],
        expected,
        "README section {name} is stale; run AEON_BLESS=1 cargo test --test readme_test"
    );
}

#[test]
fn the_readme_config_reference_matches_the_code() {
    check_section(
        "config-reference",
        &aeon::config::config_reference_markdown(),
    );
}
