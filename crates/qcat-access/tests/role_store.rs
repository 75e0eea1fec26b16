//! The role graph in a real store, on SQLite and on PostgreSQL.

use qcat_access::catalog::{Pattern, find};
use qcat_access::roles::{Role, RoleError};
use qcat_access::store::{RoleStoreError, load_graph, save_role};
use qcat_store::testing::on_both_backends;

#[tokio::test]
async fn an_empty_store_is_seeded_with_the_builtin_roles() {
    on_both_backends(|store| async move {
        let graph = load_graph(&store).await.unwrap();
        let names: Vec<&str> = graph.roles().map(|role| role.name.as_str()).collect();
        assert_eq!(
            names,
            ["admin", "auditor", "operator", "viewer"],
            "{}",
            store.backend()
        );
        assert!(graph.get("operator").unwrap().parents.contains("viewer"));
        store.close().await;
    })
    .await;
}

#[tokio::test]
async fn a_saved_role_survives_a_reload_with_its_grants_and_parents() {
    on_both_backends(|store| async move {
        let mut graph = load_graph(&store).await.unwrap();
        let restorer = Role {
            name: "restorer".into(),
            description: "restores at 3 a.m.".into(),
            builtin: false,
            grants: [Pattern::parse("backup:restore").unwrap()].into(),
            parents: ["operator".to_owned()].into(),
        };
        save_role(&store, &mut graph, restorer.clone())
            .await
            .unwrap();
        let reloaded = load_graph(&store).await.unwrap();
        assert_eq!(
            reloaded.get("restorer"),
            Some(&restorer),
            "{}",
            store.backend()
        );
        let why = reloaded
            .explain(&["restorer".to_owned()], find("monitor:view").unwrap())
            .unwrap();
        assert_eq!(why.path, ["restorer", "operator", "viewer"]);
        store.close().await;
    })
    .await;
}

#[tokio::test]
async fn a_cycle_is_refused_before_anything_is_written() {
    on_both_backends(|store| async move {
        let mut graph = load_graph(&store).await.unwrap();
        let mut viewer = graph.get("viewer").unwrap().clone();
        viewer.parents.insert("operator".into());
        let err = save_role(&store, &mut graph, viewer).await.unwrap_err();
        assert!(
            matches!(err, RoleStoreError::Role(RoleError::Cycle { .. })),
            "{err}"
        );
        let reloaded = load_graph(&store).await.unwrap();
        assert!(
            reloaded.get("viewer").unwrap().parents.is_empty(),
            "{}: the stored graph is unchanged",
            store.backend()
        );
        store.close().await;
    })
    .await;
}

#[tokio::test]
async fn two_consoles_seeding_an_empty_store_at_once_both_succeed() {
    // Team mode: two consoles start on a new PostgreSQL at the same moment.
    let store = qcat_store::testing::open_postgres().await;
    let graphs = join_all((0..8).map(|_| {
        let store = store.clone();
        tokio::spawn(async move { load_graph(&store).await })
    }))
    .await;
    let first = graphs[0].clone();
    assert_eq!(first.roles().count(), 4);
    assert!(
        graphs.iter().all(|graph| *graph == first),
        "all see the same built-in roles"
    );
    store.close().await;
}

/// Awaits spawned tasks in order; each must succeed.
async fn join_all<T: std::fmt::Debug>(
    tasks: impl Iterator<Item = tokio::task::JoinHandle<Result<T, RoleStoreError>>>,
) -> Vec<T> {
    let mut out = Vec::new();
    for task in tasks.collect::<Vec<_>>() {
        out.push(
            task.await
                .unwrap()
                .expect("seeding concurrently does not fail"),
        );
    }
    out
}
