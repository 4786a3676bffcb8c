//! A real terminal for tests: a tmux server of the test's own (its own socket, so tests run
//! side by side), one session running a command, keys sent to it and its screen read. The
//! server is killed when the value is dropped, whatever the test did.

#![allow(dead_code)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub struct Tmux {
    /// The server's socket (`-S`), in the temporary folder.
    socket: String,
}

/// The session's name.
pub const SESSION: &str = "t";

impl Tmux {
    /// Starts `command` (run by `sh -c`) in a `width` x `height` terminal. tmux must be
    /// installed (`.ci/run` installs it): without it the test fails, saying so.
    pub fn start(width: u16, height: u16, command: &str) -> Tmux {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let socket = std::env::temp_dir()
            .join(format!(
                "ely-test-tmux-{}-{}",
                std::process::id(),
                N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            ))
            .display()
            .to_string();
        match Command::new("tmux").arg("-V").output() {
            Ok(o) if o.status.success() => {}
            _ => panic!(
                "this test runs ely in a real terminal and needs tmux on PATH (CI installs it): apt-get install tmux"
            ),
        }
        let t = Tmux { socket };
        let ok = t
            .tmux(&[
                "new-session",
                "-d",
                "-s",
                SESSION,
                "-x",
                &width.to_string(),
                "-y",
                &height.to_string(),
                command,
            ])
            .status
            .success();
        assert!(ok, "tmux could not start a session (is tmux installed?)");
        t
    }

    /// Runs tmux on this server (no configuration file, none of the user's ely settings).
    pub fn tmux(&self, args: &[&str]) -> std::process::Output {
        let mut cmd = Command::new("tmux");
        cmd.args(["-f", "/dev/null", "-S", &self.socket]).args(args);
        for (k, _) in std::env::vars() {
            if k.starts_with("ELY_") || k.starts_with("WEAVIATE_") {
                cmd.env_remove(k);
            }
        }
        cmd.stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("running tmux (is tmux installed?): {e}"))
    }

    /// A format of the pane (`#{alternate_on}`).
    pub fn display(&self, format: &str) -> String {
        let out = self.tmux(&["display-message", "-p", "-t", SESSION, format]);
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Sends keys as `tmux send-keys` names them (`Enter`, `Right`, `q`, or text).
    pub fn keys(&self, keys: &[&str]) {
        for k in keys {
            self.tmux(&["send-keys", "-t", SESSION, k]);
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Sends text as it is, then Enter.
    pub fn line(&self, text: &str) {
        self.tmux(&["send-keys", "-t", SESSION, "-l", text]);
        self.keys(&["Enter"]);
    }

    /// The screen as text.
    pub fn screen(&self) -> String {
        String::from_utf8_lossy(&self.tmux(&["capture-pane", "-p", "-t", SESSION]).stdout)
            .into_owned()
    }

    /// Waits (at most `secs`) until the screen shows `text`; the screen then. Fails the test
    /// with the screen when it never does.
    pub fn wait_for(&self, text: &str, secs: u64) -> String {
        let until = Instant::now() + Duration::from_secs(secs);
        loop {
            let s = self.screen();
            if s.contains(text) {
                return s;
            }
            assert!(
                Instant::now() < until,
                "the terminal never showed {text:?}; it shows:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Whether the session's command still runs.
    pub fn alive(&self) -> bool {
        self.tmux(&["has-session", "-t", SESSION]).status.success()
    }

    /// Waits (at most `secs`) for the session's command to end.
    pub fn wait_end(&self, secs: u64) -> bool {
        let until = Instant::now() + Duration::from_secs(secs);
        while self.alive() {
            if Instant::now() > until {
                return false;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        true
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
        let _ = std::fs::remove_file(&self.socket);
    }
}
