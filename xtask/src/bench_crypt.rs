//! `cargo xtask bench crypt`: dbcrypt, pyAesCrypt and `openssl enc`
//! encrypting and decrypting the same 1 GiB file, side by side in one run,
//! written to the `## crypt` section of docs/benchmarks.md.
//!
//! Each tool runs [`ROUNDS`] times, interleaved (so that a burst of load on
//! a shared machine hits all tools alike), and the best time counts. Peak
//! RSS comes from `wait4`'s rusage of each child.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::pyaes::{PYAESCRYPT_VERSION, ensure_pyaescrypt};

const SIZE: u64 = 1 << 30;
const ROUNDS: usize = 3;
const PASSWORD: &str = "Bench-Passw0rd!";

struct Tool {
    name: &'static str,
    encrypt: Vec<String>,
    decrypt: Vec<String>,
}

#[derive(Default)]
struct Timing {
    encrypt: Vec<(Duration, u64)>,
    decrypt: Vec<(Duration, u64)>,
}

/// Runs the benchmark and rewrites the crypt section of docs/benchmarks.md.
pub fn run(root: &Path) -> Result<()> {
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "-p", "dbcrypt"])
        .current_dir(root)
        .status()
        .context("cannot run cargo")?;
    if !status.success() {
        bail!("cargo build --release -p dbcrypt failed");
    }
    let python = ensure_pyaescrypt(root)?;
    let dir = root.join("target").join("bench-crypt");
    std::fs::create_dir_all(&dir)?;
    let input = dir.join("input-1GiB");
    make_input(&input)?;

    let file = |name: &str| dir.join(name).display().to_string();
    let (input_s, db_aes, db_out) = (file("input-1GiB"), file("dbcrypt.aes"), file("dbcrypt.out"));
    let (py_aes, py_out) = (file("py.aes"), file("py.out"));
    let (ossl_enc, ossl_out) = (file("openssl.enc"), file("openssl.out"));
    let dbcrypt = root.join("target/release/dbcrypt").display().to_string();
    let py = python.display().to_string();
    let script = python.with_file_name("pyAesCrypt").display().to_string();
    let argv = |parts: &[&str]| parts.iter().map(|p| (*p).to_owned()).collect::<Vec<_>>();
    let openssl = |extra: &[&str], from: &str, to: &str| {
        let fixed = ["-aes-256-cbc", "-pbkdf2", "-pass", "env:DBCRYPT_PASSWORD"];
        argv(
            &[
                &["openssl", "enc"],
                extra,
                &fixed,
                &["-in", from, "-out", to],
            ]
            .concat(),
        )
    };
    let tools = [
        Tool {
            name: "dbcrypt",
            encrypt: argv(&[&dbcrypt, "-e", &input_s, "-o", &db_aes]),
            decrypt: argv(&[&dbcrypt, "-d", &db_aes, "-o", &db_out]),
        },
        Tool {
            name: "pyAesCrypt",
            encrypt: argv(&[&py, &script, "-p", PASSWORD, "-e", &input_s, "-o", &py_aes]),
            decrypt: argv(&[&py, &script, "-p", PASSWORD, "-d", &py_aes, "-o", &py_out]),
        },
        Tool {
            name: "openssl enc",
            encrypt: openssl(&[], &input_s, &ossl_enc),
            decrypt: openssl(&["-d"], &ossl_enc, &ossl_out),
        },
    ];

    let load_before = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut timings: Vec<Timing> = tools.iter().map(|_| Timing::default()).collect();
    for round in 1..=ROUNDS {
        for (tool, timing) in tools.iter().zip(&mut timings) {
            eprintln!("round {round}/{ROUNDS}: {} encrypt", tool.name);
            timing.encrypt.push(measure(&tool.encrypt)?);
            eprintln!("round {round}/{ROUNDS}: {} decrypt", tool.name);
            timing.decrypt.push(measure(&tool.decrypt)?);
        }
    }
    for out in ["dbcrypt.out", "py.out", "openssl.out"] {
        if !same_contents(&input, &dir.join(out))? {
            bail!("{out} does not match the input");
        }
    }
    let load_after = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();

    let section = render(&tools, &timings, load_before.trim(), load_after.trim())?;
    print!("{section}");
    crate::benchdoc::record(root, "## crypt", &section)?;
    for name in [
        "dbcrypt.aes",
        "dbcrypt.out",
        "py.aes",
        "py.out",
        "openssl.enc",
        "openssl.out",
    ] {
        let _ = std::fs::remove_file(dir.join(name));
    }
    eprintln!("updated docs/benchmarks.md (## crypt)");
    Ok(())
}

/// Writes 1 GiB of xorshift data once; later runs reuse it.
fn make_input(path: &Path) -> Result<()> {
    if std::fs::metadata(path).is_ok_and(|m| m.len() == SIZE) {
        return Ok(());
    }
    eprintln!("writing {}", path.display());
    let mut out = BufWriter::new(File::create(path)?);
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut block = vec![0u8; 1 << 20];
    for _ in 0..SIZE / block.len() as u64 {
        for chunk in block.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            chunk.copy_from_slice(&state.to_le_bytes());
        }
        out.write_all(&block)?;
    }
    out.flush()?;
    Ok(())
}

/// Runs `argv` with the password in `DBCRYPT_PASSWORD`; returns wall time
/// and peak RSS in KiB.
fn measure(argv: &[String]) -> Result<(Duration, u64)> {
    let start = Instant::now();
    let child = Command::new(&argv[0])
        .args(&argv[1..])
        .env("DBCRYPT_PASSWORD", PASSWORD)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot run {}", argv[0]))?;
    let (ok, max_rss_kib) = wait_with_rusage(child.id())?;
    let elapsed = start.elapsed();
    if !ok {
        bail!("{} failed", argv.join(" ").replace(PASSWORD, "***"));
    }
    Ok((elapsed, max_rss_kib))
}

/// `wait4` instead of `Child::wait` to get the child's own rusage (the
/// peak RSS of that one process, not of all children so far).
#[allow(unsafe_code)]
fn wait_with_rusage(pid: u32) -> Result<(bool, u64)> {
    let pid = libc::pid_t::try_from(pid)?;
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain old data for which all-zero is valid.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: valid pointers to live locals; pid is our own child.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            break;
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(err).context("wait4");
        }
    }
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    Ok((ok, u64::try_from(usage.ru_maxrss).unwrap_or(0)))
}

fn same_contents(a: &Path, b: &Path) -> Result<bool> {
    let (mut x, mut y) = (File::open(a)?, File::open(b)?);
    if x.metadata()?.len() != y.metadata()?.len() {
        return Ok(false);
    }
    let (mut bx, mut by) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let n = x.read(&mut bx)?;
        if n == 0 {
            return Ok(true);
        }
        y.read_exact(&mut by[..n])?;
        if bx[..n] != by[..n] {
            return Ok(false);
        }
    }
}

fn best(samples: &[(Duration, u64)]) -> (Duration, u64) {
    let time = samples.iter().map(|s| s.0).min().unwrap_or_default();
    let rss = samples.iter().map(|s| s.1).max().unwrap_or_default();
    (time, rss)
}

fn mb_per_s(d: Duration) -> f64 {
    SIZE as f64 / d.as_secs_f64() / 1e6
}

fn render(
    tools: &[Tool],
    timings: &[Timing],
    load_before: &str,
    load_after: &str,
) -> Result<String> {
    use std::fmt::Write as _;
    let date = crate::util::utc_now("%Y-%m-%d %H:%M UTC");
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let flags = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let has = |f: &str| flags.split_whitespace().any(|w| w == f);
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let openssl = command_line(&["openssl", "version"]);

    let mut s = String::new();
    writeln!(s, "## crypt\n")?;
    writeln!(
        s,
        "`cargo xtask bench crypt`, {date}: one 1 GiB file (page cache warm) encrypted and decrypted by each tool, \
        {ROUNDS} rounds interleaved, best wall time of the rounds (MB = 10^6 bytes); peak RSS is the largest of the rounds."
    )?;
    writeln!(
        s,
        "Machine: {cpu}, {cores} cores, AES-NI {}, SHA-NI {}; load average before `{load_before}`, after `{load_after}`.",
        if has("aes") { "yes" } else { "no" },
        if has("sha_ni") { "yes" } else { "no" }
    )?;
    writeln!(
        s,
        "Tools: dbcrypt {} (release), pyAesCrypt {PYAESCRYPT_VERSION} command line (64 KiB buffer), {openssl} \
        (`enc -aes-256-cbc -pbkdf2`: no HMAC, so less work than the AES Crypt tools).\n",
        env!("CARGO_PKG_VERSION")
    )?;
    writeln!(
        s,
        "| tool | encrypt MB/s | decrypt MB/s | encrypt s | decrypt s | peak RSS encrypt | peak RSS decrypt |"
    )?;
    writeln!(s, "| --- | ---: | ---: | ---: | ---: | ---: | ---: |")?;
    for (tool, t) in tools.iter().zip(timings) {
        let (e, erss) = best(&t.encrypt);
        let (d, drss) = best(&t.decrypt);
        writeln!(
            s,
            "| {} | {:.0} | {:.0} | {:.2} | {:.2} | {} MiB | {} MiB |",
            tool.name,
            mb_per_s(e),
            mb_per_s(d),
            e.as_secs_f64(),
            d.as_secs_f64(),
            erss / 1024,
            drss / 1024
        )?;
    }
    let (de, _) = best(&timings[0].encrypt);
    let (dd, _) = best(&timings[0].decrypt);
    let (pe, _) = best(&timings[1].encrypt);
    let (pd, _) = best(&timings[1].decrypt);
    let enc_ratio = pe.as_secs_f64() / de.as_secs_f64();
    let dec_ratio = pd.as_secs_f64() / dd.as_secs_f64();
    writeln!(
        s,
        "\ndbcrypt vs pyAesCrypt: encrypt {enc_ratio:.2}× (target ≥ 1.5×{}), decrypt {dec_ratio:.2}× (target ≥ 1.2×{}).",
        if enc_ratio >= 1.5 {
            ", met"
        } else {
            ", NOT met"
        },
        if dec_ratio >= 1.2 {
            ", met"
        } else {
            ", NOT met"
        }
    )?;
    writeln!(
        s,
        "\nHow dbcrypt gets there: AES-CBC encryption is serial, so the caller's thread reads and encrypts while a \
        helper thread computes the HMAC-SHA256 and writes the ciphertext; when decrypting, the helper hashes the ciphertext \
        while the caller decrypts (CBC decryption is parallel across blocks) and writes. Memory is three or four buffers \
        (`--buffer-size`, default 1 MiB), flat in the file size. On a shared or loaded machine the second core is not \
        always free, which costs dbcrypt more than the single-threaded tools; compare the load averages above."
    )?;
    Ok(s)
}

fn command_line(argv: &[&str]) -> String {
    Command::new(argv[0])
        .args(&argv[1..])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "?".into())
}
