//! Stamps the git commit being built into `--version`; the logic, shared
//! with the other binary's build script, is in shared/src/build_info.rs.
//! Also finds what the tests need from outside the repository and sets a
//! cfg for each one found (shared/src/test_needs.rs).

#[path = "../shared/src/build_info.rs"]
mod build_info;
#[path = "../shared/src/test_needs.rs"]
mod test_needs;

fn main() {
    build_info::emit();
    test_needs::emit();
}
