use super::*;
use crate::gtid::GtidFlavor;

/// One event: the 19-byte header, `body`, and a CRC32 trailer when `crc`
/// (its value is not checked here).
fn event(event_type: u8, body: &[u8], crc: bool) -> Vec<u8> {
    let size = HEADER_LEN + body.len() + if crc { 4 } else { 0 };
    let mut e = Vec::new();
    e.extend_from_slice(&1_700_000_000u32.to_le_bytes());
    e.push(event_type);
    e.extend_from_slice(&11u32.to_le_bytes());
    e.extend_from_slice(&(size as u32).to_le_bytes());
    e.extend_from_slice(&0u32.to_le_bytes());
    e.extend_from_slice(&0u16.to_le_bytes());
    e.extend_from_slice(body);
    if crc {
        e.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
    }
    e
}

/// A binlog head: magic, a format description event, then `events`.
fn binlog(events: &[Vec<u8>]) -> Vec<u8> {
    let mut b = MAGIC.to_vec();
    b.extend(event(FORMAT_DESCRIPTION, &[0u8; 100], true));
    for e in events {
        b.extend_from_slice(e);
    }
    b
}

fn gtid_list(entries: &[(u32, u32, u64)]) -> Vec<u8> {
    let mut body = (entries.len() as u32).to_le_bytes().to_vec();
    for (d, s, q) in entries {
        body.extend_from_slice(&d.to_le_bytes());
        body.extend_from_slice(&s.to_le_bytes());
        body.extend_from_slice(&q.to_le_bytes());
    }
    body
}

/// A uuid and its intervals (`start`, `end` exclusive), as the event lists them.
type Sid<'a> = ([u8; 16], &'a [(u64, u64)]);

fn previous_gtids(sids: &[Sid<'_>]) -> Vec<u8> {
    let mut body = (sids.len() as u64).to_le_bytes().to_vec();
    for (uuid, intervals) in sids {
        body.extend_from_slice(uuid);
        body.extend_from_slice(&(intervals.len() as u64).to_le_bytes());
        for (start, end) in *intervals {
            body.extend_from_slice(&start.to_le_bytes());
            body.extend_from_slice(&end.to_le_bytes());
        }
    }
    body
}

const UUID: [u8; 16] = [
    0x3e, 0x11, 0xfa, 0x47, 0x71, 0xca, 0x11, 0xe1, 0x9e, 0x33, 0xc8, 0x0a, 0xa9, 0x42, 0x95, 0x62,
];

#[test]
fn mariadb_first_binlog_has_an_empty_list() {
    for crc in [true, false] {
        let b = binlog(&[
            event(GTID_LIST, &gtid_list(&[]), crc),
            event(BINLOG_CHECKPOINT, &[0u8; 20], crc),
        ]);
        let g = gtids_before(&b).unwrap();
        assert_eq!(g.flavor(), GtidFlavor::Mariadb);
        assert!(g.is_empty(), "{g}");
    }
}

#[test]
fn mariadb_later_binlog_lists_the_state_per_domain() {
    let b = binlog(&[event(
        GTID_LIST,
        &gtid_list(&[(0, 11, 30), (0, 12, 41), (1, 11, 5)]),
        true,
    )]);
    // A trailing event of the file's body is not read.
    let mut b = b;
    b.extend(event(162, &[0u8; 13], true));
    assert_eq!(
        gtids_before(&b).unwrap(),
        GtidSet::parse(GtidFlavor::Mariadb, "0-12-41,1-11-5").unwrap()
    );
}

#[test]
fn mysql_previous_gtids_empty_and_not() {
    for crc in [true, false] {
        let b = binlog(&[event(PREVIOUS_GTIDS, &previous_gtids(&[]), crc)]);
        let g = gtids_before(&b).unwrap();
        assert_eq!(g.flavor(), GtidFlavor::Mysql);
        assert!(g.is_empty());
        let b = binlog(&[event(
            PREVIOUS_GTIDS,
            &previous_gtids(&[(UUID, &[(1, 101), (200, 201)])]),
            crc,
        )]);
        assert_eq!(
            gtids_before(&b).unwrap().to_string(),
            "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-100:200"
        );
    }
}

#[test]
fn what_is_not_a_readable_head_is_an_error_saying_why() {
    assert_eq!(gtids_before(b"\xfebi"), Err(HeadError::Truncated { at: 3 }));
    assert_eq!(gtids_before(b"GIF89a......"), Err(HeadError::NotABinlog));
    // Cut inside the GTID list event.
    let whole = binlog(&[event(GTID_LIST, &gtid_list(&[(0, 1, 2)]), true)]);
    let cut = &whole[..whole.len() - 10];
    assert!(matches!(
        gtids_before(cut),
        Err(HeadError::Truncated { .. })
    ));
    assert_eq!(
        gtids_before(&binlog(&[event(START_ENCRYPTION, &[0u8; 17], true)])),
        Err(HeadError::Encrypted)
    );
    // A transaction's GTID event before any list: an old binlog without one.
    let e = gtids_before(&binlog(&[event(33, &[0u8; 42], true)])).unwrap_err();
    assert!(
        matches!(e, HeadError::NoGtidList { event_type: 33, .. }),
        "{e}"
    );
    // A list whose count does not match its body.
    let mut body = gtid_list(&[(0, 1, 2)]);
    body[0] = 3;
    let e = gtids_before(&binlog(&[event(GTID_LIST, &body, true)])).unwrap_err();
    assert!(matches!(e, HeadError::Malformed { .. }), "{e}");
    // An event size below the header's.
    let mut b = MAGIC.to_vec();
    let mut fde = event(FORMAT_DESCRIPTION, &[], false);
    fde[9] = 3;
    b.extend(fde);
    assert!(matches!(gtids_before(&b), Err(HeadError::Malformed { .. })));
}

#[test]
fn real_mariadb_binlogs() {
    // The first 400 bytes of a fresh server's first binlog, and the whole
    // second binlog after GTIDs 3-7-1 and 0-7-1 (MariaDB 10.11.19).
    let first = include_bytes!("testdata/mariadb-10.11-first.bin");
    let g = gtids_before(first).unwrap();
    assert_eq!((g.flavor(), g.is_empty()), (GtidFlavor::Mariadb, true));
    let second = include_bytes!("testdata/mariadb-10.11-second.bin");
    assert_eq!(
        gtids_before(second).unwrap(),
        GtidSet::parse(GtidFlavor::Mariadb, "0-7-1,3-7-1").unwrap()
    );
    // Cut inside its list.
    assert!(matches!(
        gtids_before(&second[..290]),
        Err(HeadError::Truncated { .. })
    ));
}

proptest::proptest! {
    // A binlog's head is read from the store: any bytes give a list or an
    // error, never a panic.
    #[test]
    fn any_bytes_give_a_list_or_an_error(tail in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
        for mut b in [MAGIC.to_vec(), binlog(&[])] {
            b.extend(&tail);
            let _ = gtids_before(&b);
        }
    }
}
