//! The durable/current model without a mount.
use super::*;

fn name(s: &str) -> &OsStr {
    OsStr::new(s)
}

fn file(m: &mut Model, parent: Ino, n: &str) -> Ino {
    m.create(parent, name(n), Kind::File, 0o644, 0, 0).unwrap().ino
}

fn dir(m: &mut Model, parent: Ino, n: &str) -> Ino {
    m.create(parent, name(n), Kind::Dir, 0o755, 0, 0).unwrap().ino
}

fn content(m: &Model, parent: Ino, n: &str) -> Option<Vec<u8>> {
    let attr = m.lookup(parent, name(n)).ok()?;
    Some(m.read(attr.ino, 0, u32::MAX).unwrap())
}

fn names(m: &Model, d: Ino) -> Vec<String> {
    m.entries(d).unwrap().into_iter().map(|(_, _, n)| n.to_string_lossy().into_owned()).collect()
}

#[test]
fn a_file_never_synced_disappears() {
    let mut m = Model::default();
    let f = file(&mut m, ROOT, "a");
    m.write(f, 0, b"hello").unwrap();
    assert_eq!(content(&m, ROOT, "a").unwrap(), b"hello", "reads see the current content");
    let cut = m.power_cut();
    assert_eq!((cut.files, cut.files_removed, cut.bytes_dropped), (0, 1, 5));
    assert_eq!(m.lookup(ROOT, name("a")).unwrap_err(), FsError::NotFound);
    assert!(m.attr(f).is_err(), "the node is gone too");
    assert_eq!(cut.entries, vec![(ROOT, OsString::from("a"))]);
}

#[test]
fn a_synced_file_keeps_what_was_synced_and_loses_what_came_after() {
    let mut m = Model::default();
    let f = file(&mut m, ROOT, "db");
    m.write(f, 0, b"aaaa").unwrap();
    m.sync(f).unwrap();
    m.write(f, 2, b"bbbbbb").unwrap();
    assert_eq!(content(&m, ROOT, "db").unwrap(), b"aabbbbbb");
    let cut = m.power_cut();
    assert_eq!((cut.files, cut.files_reverted, cut.files_removed), (1, 1, 0));
    assert_eq!(cut.bytes_dropped, 6, "two overwritten bytes and four appended");
    assert_eq!(content(&m, ROOT, "db").unwrap(), b"aaaa");
    // A second cut with nothing new drops nothing.
    let again = m.power_cut();
    assert_eq!((again.files, again.files_reverted, again.bytes_dropped), (1, 0, 0));
}

#[test]
fn syncing_a_file_makes_its_name_and_the_directories_above_it_durable() {
    let mut m = Model::default();
    let a = dir(&mut m, ROOT, "a");
    let b = dir(&mut m, a, "b");
    let f = file(&mut m, b, "f");
    let other = file(&mut m, b, "other");
    m.write(f, 0, b"kept").unwrap();
    m.write(other, 0, b"lost").unwrap();
    m.sync(f).unwrap();
    m.power_cut();
    let b = m.lookup(m.lookup(ROOT, name("a")).unwrap().ino, name("b")).unwrap().ino;
    assert_eq!(content(&m, b, "f").unwrap(), b"kept");
    assert_eq!(names(&m, b), ["f"], "a sibling never synced is gone");
}

#[test]
fn syncing_a_directory_keeps_names_but_not_unsynced_data() {
    let mut m = Model::default();
    let d = dir(&mut m, ROOT, "d");
    let f = file(&mut m, d, "empty-after-cut");
    m.write(f, 0, b"data").unwrap();
    m.sync(d).unwrap();
    m.power_cut();
    assert_eq!(content(&m, d, "empty-after-cut").unwrap(), b"", "the name survived, the data did not");
}

#[test]
fn a_rename_is_undone_unless_synced() {
    let mut m = Model::default();
    let f = file(&mut m, ROOT, "old");
    m.write(f, 0, b"x").unwrap();
    m.sync(f).unwrap();
    m.rename(ROOT, name("old"), ROOT, name("new"), false).unwrap();
    assert_eq!(names(&m, ROOT), ["new"]);
    m.power_cut();
    assert_eq!(names(&m, ROOT), ["old"]);

    m.rename(ROOT, name("old"), ROOT, name("new"), false).unwrap();
    m.sync(f).unwrap();
    m.power_cut();
    assert_eq!(names(&m, ROOT), ["new"], "syncing the file made its new name durable");
}

#[test]
fn a_file_replaced_by_rename_comes_back_if_the_rename_was_not_synced() {
    let mut m = Model::default();
    let target = file(&mut m, ROOT, "target");
    m.write(target, 0, b"v1").unwrap();
    m.sync(target).unwrap();
    let tmp = file(&mut m, ROOT, "tmp");
    m.write(tmp, 0, b"v2").unwrap();
    m.rename(ROOT, name("tmp"), ROOT, name("target"), false).unwrap();
    assert_eq!(content(&m, ROOT, "target").unwrap(), b"v2");
    m.power_cut();
    assert_eq!(content(&m, ROOT, "target").unwrap(), b"v1");
    assert_eq!(names(&m, ROOT), ["target"]);

    let tmp = file(&mut m, ROOT, "tmp");
    m.write(tmp, 0, b"v3").unwrap();
    m.rename(ROOT, name("tmp"), ROOT, name("target"), false).unwrap();
    m.sync(tmp).unwrap();
    m.power_cut();
    assert_eq!(content(&m, ROOT, "target").unwrap(), b"v3");
}

#[test]
fn an_unlink_is_undone_unless_the_directory_is_synced() {
    let mut m = Model::default();
    let f = file(&mut m, ROOT, "wal");
    m.write(f, 0, b"log").unwrap();
    m.sync(f).unwrap();
    m.unlink(ROOT, name("wal")).unwrap();
    m.power_cut();
    assert_eq!(content(&m, ROOT, "wal").unwrap(), b"log");

    m.unlink(ROOT, name("wal")).unwrap();
    m.sync(ROOT).unwrap();
    let cut = m.power_cut();
    assert!(names(&m, ROOT).is_empty());
    assert_eq!(cut.files, 0);
}

#[test]
fn truncation_and_allocation_are_current_until_synced() {
    let mut m = Model::default();
    let f = file(&mut m, ROOT, "f");
    m.write(f, 0, b"0123456789").unwrap();
    m.sync(f).unwrap();
    m.set_attr(f, &SetAttr { size: Some(3), ..SetAttr::default() }).unwrap();
    assert_eq!(m.attr(f).unwrap().size, 3);
    m.power_cut();
    assert_eq!(m.attr(f).unwrap().size, 10);
    m.allocate(f, 8, 8).unwrap();
    assert_eq!(m.attr(f).unwrap().size, 16);
    m.allocate(f, 0, 4).unwrap();
    assert_eq!(m.attr(f).unwrap().size, 16, "allocation never shrinks");
    let cut = m.power_cut();
    assert_eq!((m.attr(f).unwrap().size, cut.bytes_dropped), (10, 6), "the zeroes past byte 10 were dropped");
}

#[test]
fn an_open_unlinked_file_keeps_its_data_until_released() {
    let mut m = Model::default();
    let f = file(&mut m, ROOT, "f");
    m.open(f).unwrap();
    m.write(f, 0, b"still here").unwrap();
    m.unlink(ROOT, name("f")).unwrap();
    assert_eq!(m.attr(f).unwrap().nlink, 0);
    assert_eq!(m.read(f, 6, 100).unwrap(), b"here");
    m.release(f);
    assert_eq!(m.attr(f).unwrap_err(), FsError::NotFound);
}

#[test]
fn errors_match_posix() {
    let mut m = Model::default();
    let d = dir(&mut m, ROOT, "d");
    let sub = dir(&mut m, d, "sub");
    file(&mut m, d, "f");
    file(&mut m, ROOT, "g");
    assert_eq!(m.create(ROOT, name("d"), Kind::File, 0o644, 0, 0).unwrap_err(), FsError::Exists);
    assert_eq!(m.rmdir(ROOT, name("d")).unwrap_err(), FsError::NotEmpty);
    assert_eq!(m.unlink(ROOT, name("d")).unwrap_err(), FsError::IsDir);
    assert_eq!(m.rmdir(d, name("f")).unwrap_err(), FsError::NotDir);
    assert_eq!(m.rename(ROOT, name("d"), sub, name("x"), false).unwrap_err(), FsError::Invalid);
    assert_eq!(m.rename(ROOT, name("g"), d, name("f"), true).unwrap_err(), FsError::Exists);
    assert_eq!(m.rename(ROOT, name("g"), d, name("sub"), false).unwrap_err(), FsError::IsDir);
    assert_eq!(m.rename(d, name("sub"), ROOT, name("g"), false).unwrap_err(), FsError::NotDir);
    assert_eq!(m.lookup(ROOT, name("nope")).unwrap_err(), FsError::NotFound);
    assert_eq!(m.write(d, 0, b"x").unwrap_err(), FsError::IsDir);
    assert_eq!(m.attr(ROOT).unwrap().nlink, 3, "the root holds one directory");
    m.rmdir(d, name("sub")).unwrap();
    assert_eq!(m.parent(d).unwrap(), ROOT);
}

#[test]
fn a_node_is_dropped_once_no_current_or_durable_name_refers_to_it() {
    let mut m = Model::default();
    let f = file(&mut m, ROOT, "f");
    m.sync(f).unwrap();
    m.unlink(ROOT, name("f")).unwrap();
    assert!(m.attr(f).is_ok(), "still durable: a cut would bring it back");
    m.sync(ROOT).unwrap();
    assert_eq!(m.attr(f).unwrap_err(), FsError::NotFound);
}
