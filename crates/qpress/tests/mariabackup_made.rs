//! A `.qp` file written by `mariabackup --compress` (10.11, recorded from
//! a sandbox server's backup: `mysql/proc.frm`) decodes to the file the
//! same server's uncompressed backup holds.

#[test]
fn a_mariabackup_qp_file_decodes_to_the_original() {
    let qp = include_bytes!("data/proc.frm.qp");
    let want = include_bytes!("data/proc.frm");
    let mut out = Vec::new();
    let n = qpress::unpack(&qp[..], &mut out).expect("decodes");
    assert_eq!(n, want.len() as u64);
    assert!(out == want, "decoded bytes differ from the original");
    // It does use matches: a literal-only decoder would not get here.
    assert!(qp.len() * 2 < want.len());
}
