//! Finds what the tests need from outside the repository (tmux, root, a
//! filesystem without collapse-range, ...) and sets a cfg for each one
//! found, so that a test whose need is missing is reported as ignored with
//! the reason; in CI a missing need fails the build. The logic, shared with
//! the other packages' build scripts, is in shared/src/test_needs.rs.

#[path = "src/test_needs.rs"]
mod test_needs;

fn main() {
    test_needs::emit();
}
