//! The README's embedded example: open a store, write a page image and a
//! batch, read them back, close.
//!
//! Run: `cargo run -p folio --example embedded [DIR]` (default: a temporary
//! directory).

use folio::{Config, WriteBatch};

fn main() -> Result<(), folio::Error> {
    let temp = tempfile::tempdir().map_err(|e| folio::Error::io("mkdtemp", "/tmp", e))?;
    let dir = std::env::args_os()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| temp.path().join("store"));

    let store = folio::open("paged", &dir, &Config::default())?;
    store.put(b"page:42@0000000000000100", &[0u8; 8192])?;
    let image = store.get(b"page:42@0000000000000100")?;
    assert_eq!(image.as_deref(), Some(&[0u8; 8192][..]));

    let mut batch = WriteBatch::new();
    batch
        .put(b"a".to_vec(), b"1".to_vec())
        .delete(b"b".to_vec());
    store.write_batch(&batch)?; // atomic
    println!("{} keys in {}", store.len()?, dir.display());
    store.close()?; // makes everything durable and writes a checkpoint
    Ok(())
}
