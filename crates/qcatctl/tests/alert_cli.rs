//! `qcatctl alert routes test` beside the real `amtool config routes test` (Debian's
//! `prometheus-alertmanager`) on the same `alertmanager.yml`: the same receivers in the
//! same order for every case of a table built from Alertmanager's documented routing
//! example (grouping, `continue`, regexes, inheritance) and for randomly generated trees and
//! label sets; `--json` carries each route's inherited grouping and timers; `simulate`
//! applies inhibition; a broken file is refused naming the place.

mod common;

use std::process::Command;

use common::{assert_exit, succeeded};

fn qcatctl(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_qcatctl"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .args(args)
        .output()
        .unwrap()
}

fn amtool(config: &std::path::Path, labels: &[String]) -> String {
    let out = Command::new("amtool")
        .args(["config", "routes", "test"])
        .arg(format!("--config.file={}", config.display()))
        .args(labels)
        .output()
        .expect("amtool runs (apt-get install prometheus-alertmanager)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn ours(config: &std::path::Path, labels: &[String]) -> String {
    let mut args = vec![
        "alert",
        "routes",
        "test",
        "--config",
        config.to_str().unwrap(),
    ];
    args.extend(labels.iter().map(String::as_str));
    succeeded(&qcatctl(&args)).trim().to_owned()
}

/// Alertmanager's documented routing example (teams X, Y and DB, a pager under each).
const DOCUMENTED: &str = r#"
route:
  receiver: team-X-mails
  group_by: ['alertname', 'cluster', 'service']
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 3h
  routes:
    - matchers: ['service=~"foo1|foo2|baz"']
      receiver: team-X-mails
      routes:
        - matchers: ['severity="critical"']
          receiver: team-X-pager
    - matchers: ['service="files"']
      receiver: team-Y-mails
      routes:
        - matchers: ['severity="critical"']
          receiver: team-Y-pager
    - matchers: ['service="database"']
      receiver: team-DB-pager
      group_by: [alertname, cluster, database]
      routes:
        - matchers: ['owner="team-X"']
          receiver: team-X-pager
          continue: true
        - matchers: ['owner="team-Y"']
          receiver: team-Y-pager
    - match:
        team: frontend
      match_re:
        env: prod|staging
      receiver: frontend
      group_by: ['...']
      repeat_interval: 1h
    - matchers: ['severity!="info"', 'region!~"eu-.*"']
      receiver: catch-all
      continue: true
    - matchers: ['{severity="warning", region=~"eu-.*"}']
      receiver: eu-warnings
receivers:
  - name: team-X-mails
  - name: team-X-pager
  - name: team-Y-mails
  - name: team-Y-pager
  - name: team-DB-pager
  - name: frontend
  - name: catch-all
  - name: eu-warnings
inhibit_rules:
  - source_matchers: ['severity="critical"']
    target_matchers: ['severity="warning"']
    equal: [alertname, cluster]
"#;

fn labels(pairs: &[&str]) -> Vec<String> {
    pairs.iter().map(|p| (*p).to_owned()).collect()
}

#[test]
fn the_documented_example_routes_as_amtool_routes_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("alertmanager.yml");
    std::fs::write(&config, DOCUMENTED).unwrap();
    let cases: [&[&str]; 16] = [
        &["service=foo1"],
        &["service=foo2", "severity=critical"],
        &["service=foo12"],
        &["service=files", "severity=critical"],
        &["service=files", "severity=warning"],
        &["service=database", "owner=team-X"],
        &["service=database", "owner=team-Y"],
        &["service=database", "owner=team-Z"],
        &["team=frontend", "env=prod"],
        &["team=frontend", "env=dev"],
        &["severity=warning", "region=eu-west"],
        &["severity=warning", "region=us-east"],
        &["severity=info"],
        &["alertname=Up"],
        &["service=database", "owner=team-X", "severity=critical"],
        &["service=", "severity="],
    ];
    for case in cases {
        let case = labels(case);
        assert_eq!(
            ours(&config, &case),
            amtool(&config, &case),
            "labels {case:?}"
        );
    }
    // The answer for the database owned by team X: the pager, then (continue) the DB pager
    // the parent route names; --json carries what each inherited.
    let json: serde_json::Value = serde_json::from_str(&succeeded(&qcatctl(&[
        "alert",
        "routes",
        "test",
        "--config",
        config.to_str().unwrap(),
        "--json",
        "service=database",
        "owner=team-X",
    ])))
    .unwrap();
    assert_eq!(json[0]["receiver"], "team-X-pager");
    assert_eq!(
        json[0]["group_by"],
        serde_json::json!(["alertname", "cluster", "database"]),
        "inherited from the database route"
    );
    assert_eq!(json[0]["repeat_interval_s"], 10_800.0, "from the root: 3h");
    let frontend: serde_json::Value = serde_json::from_str(&succeeded(&qcatctl(&[
        "alert",
        "routes",
        "test",
        "--config",
        config.to_str().unwrap(),
        "--json",
        "team=frontend",
        "env=prod",
    ])))
    .unwrap();
    assert_eq!(frontend[0]["group_by"], serde_json::json!(["..."]));
    assert_eq!(frontend[0]["repeat_interval_s"], 3600.0);
}

/// A small deterministic generator (xorshift) for trees and label sets.
struct Random(u64);

impl Random {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

const NAMES: [&str; 3] = ["a", "b", "c"];
const VALUES: [&str; 4] = ["x", "y", "z", ""];
const REGEXES: [&str; 5] = ["x|y", "x.*", ".+", "(y|z)", "x?"];

fn random_matcher(random: &mut Random) -> String {
    let name = random.pick(&NAMES);
    match random.below(4) {
        0 => format!("{name}=\"{}\"", random.pick(&VALUES)),
        1 => format!("{name}!=\"{}\"", random.pick(&VALUES)),
        2 => format!("{name}=~\"{}\"", random.pick(&REGEXES)),
        _ => format!("{name}!~\"{}\"", random.pick(&REGEXES)),
    }
}

fn random_routes(
    random: &mut Random,
    depth: usize,
    indent: usize,
    receivers: &mut Vec<String>,
) -> String {
    let mut text = String::new();
    let pad = " ".repeat(indent);
    for _ in 0..1 + random.below(3) {
        let matchers: Vec<String> = (0..random.below(3))
            .map(|_| format!("'{}'", random_matcher(random)))
            .collect();
        text.push_str(&format!("{pad}- matchers: [{}]\n", matchers.join(", ")));
        if random.below(2) == 0 {
            let receiver = format!("r{}", receivers.len());
            text.push_str(&format!("{pad}  receiver: {receiver}\n"));
            receivers.push(receiver);
        }
        if random.below(3) == 0 {
            text.push_str(&format!("{pad}  continue: true\n"));
        }
        if depth > 0 && random.below(2) == 0 {
            text.push_str(&format!("{pad}  routes:\n"));
            text.push_str(&random_routes(random, depth - 1, indent + 4, receivers));
        }
    }
    text
}

#[test]
fn random_trees_and_label_sets_route_as_amtool_routes_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut random = Random(0x5DEE_CE66_D1CE_4E5B);
    let mut compared = 0;
    for tree in 0..25 {
        let mut receivers = vec!["root".to_owned()];
        let routes = random_routes(&mut random, 2, 4, &mut receivers);
        let text = format!(
            "route:\n  receiver: root\n  routes:\n{routes}receivers:\n{}",
            receivers
                .iter()
                .map(|r| format!("  - name: {r}\n"))
                .collect::<String>()
        );
        let config = dir.path().join(format!("tree-{tree}.yml"));
        std::fs::write(&config, &text).unwrap();
        for _ in 0..8 {
            let mut set = Vec::new();
            for name in NAMES {
                if random.below(3) != 0 {
                    set.push(format!("{name}={}", random.pick(&VALUES[..3])));
                }
            }
            assert_eq!(
                ours(&config, &set),
                amtool(&config, &set),
                "tree {tree} with labels {set:?}:\n{text}"
            );
            compared += 1;
        }
    }
    println!("{compared} label sets over 25 random trees: the same receivers as amtool");
}

#[test]
fn simulate_routes_and_inhibits_and_a_broken_file_names_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("alertmanager.yml");
    std::fs::write(&config, DOCUMENTED).unwrap();
    let alerts = dir.path().join("alerts.json");
    std::fs::write(
        &alerts,
        r#"[
          {"labels": {"alertname": "DiskFull", "cluster": "a", "service": "files", "severity": "critical"}},
          {"labels": {"alertname": "DiskFull", "cluster": "a", "service": "files", "severity": "warning"}},
          {"labels": {"alertname": "DiskFull", "cluster": "b", "service": "files", "severity": "warning"}},
          {"labels": {"alertname": "DiskFull", "cluster": "c", "service": "files", "severity": "critical"}, "endsAt": "2020-01-01T00:00:00Z"},
          {"labels": {"alertname": "DiskFull", "cluster": "c", "service": "files", "severity": "warning"}}
        ]"#,
    )
    .unwrap();
    let out = succeeded(&qcatctl(&[
        "alert",
        "simulate",
        "--config",
        config.to_str().unwrap(),
        alerts.to_str().unwrap(),
        "--json",
    ]));
    let result: serde_json::Value = serde_json::from_str(&out).unwrap();
    let inhibited: Vec<bool> = result
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["inhibited"].as_bool().unwrap())
        .collect();
    // The warning in cluster a is muted by its critical; b has no critical; c's critical
    // has ended and mutes nothing.
    assert_eq!(inhibited, [false, true, false, false, false]);
    // The files route has no `continue`: its pager is the only receiver.
    assert_eq!(result[0]["receivers"], serde_json::json!(["team-Y-pager"]));

    let broken = dir.path().join("broken.yml");
    std::fs::write(
        &broken,
        "route:\n  receiver: nobody\n  routes:\n    - matchers: ['a=\"unclosed']\nreceivers: [{name: team}]\n",
    )
    .unwrap();
    let refused = qcatctl(&[
        "alert",
        "routes",
        "test",
        "--config",
        broken.to_str().unwrap(),
        "a=1",
    ]);
    assert_exit(&refused, 78);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("route.receiver: undefined receiver \"nobody\""),
        "{stderr}"
    );
    assert!(stderr.contains("route.routes[0].matchers[0]"), "{stderr}");
}
