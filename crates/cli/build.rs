//! The release link of `mandate` places the functions a hook call runs first, in the order
//! of `bench/hot-symbols.txt` (`scripts/link-hot-first.sh`). Cargo does not know the link
//! reads that list, so a changed list, or a changed script, must rebuild the binary.

fn main() {
    println!("cargo:rerun-if-changed=../../bench/hot-symbols.txt");
    println!("cargo:rerun-if-changed=../../scripts/link-hot-first.sh");
}
