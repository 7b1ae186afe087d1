//! The context stores: one behavioural suite run against the in-memory store and against Redis
//! (a real `redis-server`, started by each test on a loopback port; `./test.sh` installs it),
//! then what only Redis can do wrong: go away and come back, and refuse a password.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use omnia_runtime::context::{ContextStore, Limits, MemoryStore, RedisStore};
use omnia_runtime::provider::ChatMessage;

/// A `redis-server` on a loopback port, stopped when dropped.
struct Redis {
    port: u16,
    child: Option<Child>,
    password: Option<&'static str>,
}

impl Redis {
    fn start(password: Option<&'static str>) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut redis = Self {
            port,
            child: None,
            password,
        };
        redis.run();
        redis
    }

    fn run(&mut self) {
        let mut command = Command::new("redis-server");
        command
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(password) = self.password {
            command.args(["--requirepass", password]);
        }
        let child = command.spawn().expect(
            "redis-server is not installed: ./test.sh installs it (apt-get install redis-server)",
        );
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn url(&self, password: Option<&str>) -> String {
        match password {
            Some(password) => format!("redis://:{password}@127.0.0.1:{}/0", self.port),
            None => format!("redis://127.0.0.1:{}/0", self.port),
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

fn user(text: &str) -> ChatMessage {
    ChatMessage::User {
        content: text.to_owned(),
    }
}

fn texts(history: &[ChatMessage]) -> Vec<String> {
    history
        .iter()
        .map(|m| match m {
            ChatMessage::User { content } | ChatMessage::Assistant { content } => content.clone(),
            other => format!("{other:?}"),
        })
        .collect()
}

const LIMITS: Limits = Limits {
    max_messages: 3,
    max_message_bytes: 16,
};

/// Waits (polling) until `session` is gone from `store`, for at most `within`.
async fn gone(store: &dyn ContextStore, session: &str, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if !store.has(session).await.unwrap() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// What every store must do. `store` has the limits above and a TTL of two seconds.
async fn behaves(store: &dyn ContextStore) {
    // Unknown sessions are empty.
    assert!(store.load("nobody").await.unwrap().is_empty());
    assert!(!store.has("nobody").await.unwrap());

    // Appends keep their order, per session.
    store
        .append("a", &[user("one"), user("two")])
        .await
        .unwrap();
    store.append("b", &[user("other")]).await.unwrap();
    store.append("a", &[]).await.unwrap();
    assert_eq!(texts(&store.load("a").await.unwrap()), ["one", "two"]);
    assert_eq!(texts(&store.load("b").await.unwrap()), ["other"]);
    assert!(store.has("a").await.unwrap());

    // The cap keeps the newest messages; a long message is cut and says so.
    store
        .append(
            "a",
            &[user("three"), user("a message longer than sixteen bytes")],
        )
        .await
        .unwrap();
    let history = texts(&store.load("a").await.unwrap());
    assert_eq!(history.len(), 3, "{history:?}");
    assert_eq!(history[..2], ["two", "three"]);
    assert!(history[2].starts_with("a message longe"), "{history:?}");
    assert!(history[2].contains("[cut:"), "{history:?}");

    // Every turn restarts the TTL; without turns the session expires.
    store.append("ttl", &[user("first")]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    store.append("ttl", &[user("second")]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert!(
        store.has("ttl").await.unwrap(),
        "the second turn did not restart the TTL"
    );
    assert!(
        gone(store, "ttl", Duration::from_secs(5)).await,
        "the session never expired"
    );
    assert!(store.load("ttl").await.unwrap().is_empty());
    store.check().await.unwrap();
}

const TTL: Duration = Duration::from_secs(2);

#[tokio::test]
async fn the_memory_store_behaves() {
    behaves(&MemoryStore::new(TTL, 1 << 20, LIMITS)).await;
}

#[tokio::test]
async fn the_redis_store_behaves() {
    let redis = Redis::start(None);
    let store = RedisStore::connect(&redis.url(None), "redis-url", TTL, LIMITS)
        .await
        .unwrap();
    assert_eq!(
        store.describe(),
        format!("redis at 127.0.0.1:{}/0", redis.port)
    );
    behaves(&store).await;
}

#[tokio::test]
async fn redis_going_away_fails_fast_and_its_return_needs_no_restart() {
    let mut redis = Redis::start(None);
    let store = RedisStore::connect(&redis.url(None), "redis-url", TTL, Limits::default())
        .await
        .unwrap();
    store.append("s", &[user("kept")]).await.unwrap();

    redis.stop();
    let started = Instant::now();
    let error = store.load("s").await.unwrap_err().to_string();
    assert!(
        error.contains(&format!("redis at 127.0.0.1:{}/0", redis.port)),
        "{error}"
    );
    assert!(store.check().await.is_err());
    // The deadline is the store's (2 s), not a hang; this bound only guards against a hang.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );

    redis.run();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match store.append("s", &[user("after")]).await {
            Ok(()) => break,
            Err(error) => {
                assert!(Instant::now() < deadline, "Redis never came back: {error}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    // A fresh server (no persistence): only what came after is there.
    assert_eq!(texts(&store.load("s").await.unwrap()), ["after"]);
}

#[tokio::test]
async fn a_wrong_password_is_refused_naming_the_secret_and_never_the_password() {
    let redis = Redis::start(Some("s3cret-pass"));

    let error = RedisStore::connect(
        &redis.url(Some("not-the-pass")),
        "chat-redis",
        TTL,
        Limits::default(),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(error.contains("`chat-redis`"), "{error}");
    assert!(!error.contains("not-the-pass"), "{error}");

    let store = RedisStore::connect(
        &redis.url(Some("s3cret-pass")),
        "chat-redis",
        TTL,
        Limits::default(),
    )
    .await
    .unwrap();
    store.append("s", &[user("hi")]).await.unwrap();
    assert!(store.has("s").await.unwrap());
}
