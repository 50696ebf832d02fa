//! Writes the seed corpus of every target to `seeds/<target>/<name>`, replacing what is there.
//!
//! `cargo run --no-default-features --example write_seeds` (in `fuzz/`).

use std::path::Path;

fn main() -> std::io::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    for target in mesh_fuzz::TARGETS {
        let dir = root.join(target.name);
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::create_dir_all(&dir)?;
    }
    let seeds = mesh_fuzz::seeds::all();
    for seed in &seeds {
        std::fs::write(root.join(seed.target).join(&seed.name), &seed.bytes)?;
    }
    println!("{} seeds written under {}", seeds.len(), root.display());
    Ok(())
}
