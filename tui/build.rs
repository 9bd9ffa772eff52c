//! Stamps the git commit being built into `--version`; the logic, shared
//! with the other binary's build script, is in shared/src/build_info.rs.

#[path = "../shared/src/build_info.rs"]
mod build_info;

fn main() {
    build_info::emit();
}
