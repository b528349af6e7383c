// The migrations are embedded at compile time; without this, adding one does not rebuild.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
