//! A real terminal for tests: a tmux server of the test's own (its own socket, so tests run
//! side by side), one session running a command, keys sent to it and its screen read. The
//! server is killed when the value is dropped, whatever the test did.

#![allow(dead_code)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub struct Tmux {
    socket: String,
}

impl Tmux {
    /// Starts `command` (run by `sh -c`) in a `width` x `height` terminal. tmux must be
    /// installed (`.ci/run` installs it): without it the test fails, saying so.
    pub fn start(width: u16, height: u16, command: &str) -> Tmux {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let socket = format!(
            "ely-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let t = Tmux { socket };
        let ok = t
            .tmux(&[
                "new-session",
                "-d",
                "-s",
                "t",
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

    fn tmux(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .arg("-f")
            .arg("/dev/null")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("running tmux (is tmux installed?): {e}"))
    }

    /// Sends keys as `tmux send-keys` names them (`Enter`, `Right`, `q`, or text).
    pub fn keys(&self, keys: &[&str]) {
        for k in keys {
            self.tmux(&["send-keys", "-t", "t", k]);
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Sends text as it is, then Enter.
    pub fn line(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "t", "-l", text]);
        self.keys(&["Enter"]);
    }

    /// The screen as text.
    pub fn screen(&self) -> String {
        String::from_utf8_lossy(&self.tmux(&["capture-pane", "-p", "-t", "t"]).stdout).into_owned()
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
        self.tmux(&["has-session", "-t", "t"]).status.success()
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
    }
}
