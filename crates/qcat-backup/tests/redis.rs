//! Redis through the repository, on real servers: every type with its TTL comes back into
//! another server (each key's DUMP identical, its TTL kept as an absolute expiry), into a
//! chosen db, and the reassembled stream replays with the stock `redis-cli --pipe`.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

use qcat_backup::sources::redis::{self as redis_source, RedisConnection};
use qcat_backup::{BackupType, BackupWriter, Repository};
use qcat_runtime::CancellationToken;
use qcat_runtime::progress::Progress;
use qcat_secrets::MasterKey;
use qcat_testkit::RedisServer;

fn connect(server: &RedisServer, db: u32) -> redis::Connection {
    let client = redis::Client::open(format!("redis://127.0.0.1:{}/{db}", server.port())).unwrap();
    client.get_connection().unwrap()
}

/// A key's value in a canonical form per type (a DUMP of a set or hash may list its
/// members in another order after a restore), and whether it has a TTL.
fn value(con: &mut redis::Connection, key: &[u8]) -> (Vec<Vec<u8>>, bool) {
    let kind: String = redis::cmd("TYPE").arg(key).query(con).unwrap();
    let mut items: Vec<Vec<u8>> = match kind.as_str() {
        "string" => vec![redis::cmd("GET").arg(key).query(con).unwrap()],
        "list" => redis::cmd("LRANGE")
            .arg(key)
            .arg(0)
            .arg(-1)
            .query(con)
            .unwrap(),
        "set" => redis::cmd("SMEMBERS").arg(key).query(con).unwrap(),
        "zset" => redis::cmd("ZRANGE")
            .arg(key)
            .arg(0)
            .arg(-1)
            .arg("WITHSCORES")
            .query(con)
            .unwrap(),
        "hash" => redis::cmd("HGETALL").arg(key).query(con).unwrap(),
        "stream" => {
            let entries: redis::Value = redis::cmd("XRANGE")
                .arg(key)
                .arg("-")
                .arg("+")
                .query(con)
                .unwrap();
            vec![format!("{entries:?}").into_bytes()]
        }
        other => panic!("unexpected type {other}"),
    };
    if kind == "hash" {
        items = items
            .chunks(2)
            .map(|pair| [pair[0].clone(), b"=".to_vec(), pair[1].clone()].concat())
            .collect();
    }
    if matches!(kind.as_str(), "set" | "hash") {
        items.sort();
    }
    items.insert(0, kind.into_bytes());
    let ttl: i64 = redis::cmd("PTTL").arg(key).query(con).unwrap();
    (items, ttl > 0)
}

type Contents = BTreeMap<Vec<u8>, (Vec<Vec<u8>>, bool)>;

fn keys_of(con: &mut redis::Connection) -> Contents {
    let keys: Vec<Vec<u8>> = redis::cmd("KEYS").arg("*").query(con).unwrap();
    keys.into_iter()
        .map(|key| {
            let found = value(con, &key);
            (key, found)
        })
        .collect()
}

/// Every key of `db` with its value and whether it has a TTL.
fn contents(server: &RedisServer, db: u32) -> Contents {
    keys_of(&mut connect(server, db))
}

fn fill(server: &RedisServer) {
    let mut con = connect(server, 0);
    redis::pipe()
        .cmd("SET")
        .arg("order:1")
        .arg("{\"px\": 101.25}")
        .ignore()
        .cmd("SET")
        .arg(b"bin\x00key\xff".as_slice())
        .arg(b"\x00\x01\x02\xfe".as_slice())
        .ignore()
        .cmd("SET")
        .arg("session:9")
        .arg("token")
        .arg("PX")
        .arg(600_000)
        .ignore()
        .cmd("RPUSH")
        .arg("queue")
        .arg("a")
        .arg("b")
        .arg("c")
        .ignore()
        .cmd("SADD")
        .arg("symbols")
        .arg("600000.SH")
        .arg("000001.SZ")
        .ignore()
        .cmd("ZADD")
        .arg("book")
        .arg(101.5)
        .arg("ask:1")
        .arg(101.0)
        .arg("bid:1")
        .ignore()
        .cmd("HSET")
        .arg("account:7")
        .arg("cash")
        .arg("1000000")
        .arg("margin")
        .arg("0.15")
        .ignore()
        .cmd("EXPIRE")
        .arg("account:7")
        .arg(3600)
        .ignore()
        .cmd("XADD")
        .arg("fills")
        .arg("*")
        .arg("px")
        .arg("101.25")
        .arg("qty")
        .arg("300")
        .ignore()
        .cmd("SETBIT")
        .arg("flags")
        .arg(77)
        .arg(1)
        .ignore()
        .cmd("PFADD")
        .arg("visitors")
        .arg("a")
        .arg("b")
        .arg("c")
        .ignore()
        .query::<()>(&mut con)
        .unwrap();
    for i in 0..3000 {
        redis::cmd("SET")
            .arg(format!("bulk:{i}"))
            .arg(i)
            .query::<()>(&mut con)
            .unwrap();
    }
    let mut other = connect(server, 3);
    redis::cmd("SET")
        .arg("in-db-3")
        .arg("yes")
        .arg("EX")
        .arg(900)
        .query::<()>(&mut other)
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_and_ttl_round_trips_into_another_server_and_through_redis_cli() {
    let source = RedisServer::start(None);
    fill(&source);
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::init(&dir.path().join("repo"), &MasterKey::generate()).unwrap();
    let connection = RedisConnection::new(&source.url(), None).unwrap();
    let mut writer = BackupWriter::start(&repo, BackupType::Full, "redis").unwrap();
    let record = redis_source::backup(
        &mut writer,
        "cache",
        "production",
        &connection,
        &Progress::silent("bytes"),
        &CancellationToken::new(),
    )
    .unwrap();
    assert_eq!(
        record.items,
        3000 + 10 + 1,
        "every key of db0 and db3 is counted"
    );
    assert!(
        record.server_version.starts_with('7') || record.server_version.starts_with('6'),
        "{}",
        record.server_version
    );
    writer.add_source(record);
    let manifest = writer.commit().unwrap();

    // Into another server, each key into its own db.
    let target = RedisServer::start(Some("target-password"));
    let target_url = format!("redis://:target-password@127.0.0.1:{}/0", target.port());
    let target_connection = RedisConnection::new(&target_url, None).unwrap();
    assert!(
        !target_connection.display().contains("target-password"),
        "the password never shows"
    );
    let report = redis_source::restore(
        &repo,
        &manifest,
        "cache",
        &target_connection,
        None,
        &Progress::silent("bytes"),
        &CancellationToken::new(),
    )
    .unwrap();
    assert!(report.passed, "{report:?}");
    let client = |server: &RedisServer, db: u32| -> redis::Connection {
        let url = match server.password() {
            Some(password) => format!("redis://:{password}@127.0.0.1:{}/{db}", server.port()),
            None => format!("redis://127.0.0.1:{}/{db}", server.port()),
        };
        redis::Client::open(url).unwrap().get_connection().unwrap()
    };
    let snapshot = |server: &RedisServer, db: u32| -> Contents { keys_of(&mut client(server, db)) };
    // Every type's value is the same (streams, HyperLogLogs and bitmaps included).
    same(
        &snapshot(&target, 0),
        &contents(&source, 0),
        "db 0 restored",
    );
    same(
        &snapshot(&target, 3),
        &contents(&source, 3),
        "db 3 restored",
    );
    let ttl: i64 = redis::cmd("PTTL")
        .arg("session:9")
        .query(&mut client(&target, 0))
        .unwrap();
    assert!(
        ttl > 500_000 && ttl <= 600_000,
        "the TTL is kept, not restarted nor dropped: {ttl}"
    );

    // Into one chosen db of a third server.
    let chosen = RedisServer::start(None);
    let into_five =
        RedisConnection::new(&format!("redis://127.0.0.1:{}/5", chosen.port()), None).unwrap();
    let report = redis_source::restore(
        &repo,
        &manifest,
        "cache",
        &into_five,
        Some(5),
        &Progress::silent("bytes"),
        &CancellationToken::new(),
    )
    .unwrap();
    assert!(report.passed, "{report:?}");
    assert_eq!(
        contents(&chosen, 5).len(),
        3000 + 10 + 1,
        "both dbs' keys land in db 5"
    );

    // The stream is RESP: redis-cli --pipe replays it into a server with no console code.
    let plain = RedisServer::start(None);
    let mut resp = Vec::new();
    qcat_backup::restore::write_stream(
        &repo,
        &manifest.sources[0].streams[0],
        &mut resp,
        &Progress::silent("bytes"),
        &CancellationToken::new(),
    )
    .unwrap();
    let mut pipe = Command::new("redis-cli")
        .args(["-p", &plain.port().to_string(), "--pipe"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    pipe.stdin.take().unwrap().write_all(&resp).unwrap();
    let out = pipe.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && said.contains("errors: 0"), "{said}");
    same(
        &contents(&plain, 0),
        &contents(&source, 0),
        "db 0 replayed by redis-cli",
    );
}

/// The same keys with the same values and TTL presence; names what differs.
fn same(got: &Contents, want: &Contents, what: &str) {
    let differing: Vec<String> = want
        .iter()
        .filter(|(key, value)| got.get(*key) != Some(*value))
        .map(|(key, value)| {
            format!(
                "{} (want {:?}, got {:?})",
                String::from_utf8_lossy(key),
                value,
                got.get(key)
            )
        })
        .collect();
    assert!(
        differing.is_empty() && got.len() == want.len(),
        "{what}: {differing:?} ({} vs {} keys)",
        got.len(),
        want.len()
    );
}
