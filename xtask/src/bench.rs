//! bench (in progress)
pub(crate) fn run(_krate: Option<&str>) -> Result<(), String> {
    Err("not yet".into())
}
