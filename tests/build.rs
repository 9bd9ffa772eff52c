//! Finds what the end-to-end tests need from outside the repository (the
//! real v0, tmux, jq, ...) and sets a cfg for each one found, so that a test
//! whose need is missing is reported as ignored with the reason; in CI a
//! missing need fails the build (shared/src/test_needs.rs).

#[path = "../shared/src/test_needs.rs"]
mod test_needs;

fn main() {
    test_needs::emit();
}
