//! What the composite action relies on from berth: an input left empty reaches berth as an
//! empty `BERTH_*` variable, which must behave as unset.

use crate::harness::{berth, run};

#[test]
fn empty_berth_variables_are_unset() {
    let repo = crate::harness::temp_dir();
    let out = run(berth()
        .current_dir(repo.path())
        .args(["detect", "ghcr.io/o/app"])
        .env("BERTH_OUTPUT", "")
        .env("BERTH_CONTAINER_REGISTRY", "")
        .env("BERTH_DRY_RUN", "")
        .env("BERTH_REPO", ""));
    assert_eq!(
        out.code, 0,
        "an empty variable was taken as a value: {out:?}"
    );
    assert!(
        out.stdout.contains("container registry:        github"),
        "{out:?}"
    );
    // A non-empty bad value is still refused, so the variables are really read.
    let out = run(berth()
        .current_dir(repo.path())
        .args(["detect", "ghcr.io/o/app"])
        .env("BERTH_OUTPUT", "yaml"));
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("'yaml'"), "{out:?}");
}
