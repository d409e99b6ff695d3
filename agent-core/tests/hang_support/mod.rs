//! A main thread of the tests' own for the hang watchdog: a thread running posted closures in
//! order, as Android's looper and iOS's main queue do.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent_core::Agent;
use agent_core::hang::MainThread;

use crate::agent_support::PATIENCE;

pub type Job = Box<dyn FnOnce() + Send>;

/// A main thread: runs what is posted, in order, until its sender is dropped.
pub struct Main {
    jobs: Mutex<Sender<Job>>,
    agent: Agent,
    pub debugger: AtomicBool,
    pub posts: AtomicU64,
    /// What the main thread is doing: the frame `stack` answers.
    doing: Arc<Mutex<&'static str>>,
    /// A job to queue right behind the next tick's answer.
    pub after_answer: Mutex<Option<Job>>,
    /// A job to queue right before the next tick's answer.
    pub before_answer: Mutex<Option<Job>>,
}

impl Main {
    pub fn start(agent: &Agent) -> Arc<Main> {
        let (jobs, queue) = channel::<Job>();
        std::thread::Builder::new()
            .name("main".into())
            .spawn(move || {
                for job in queue {
                    job();
                }
            })
            .expect("main thread");
        Arc::new(Main {
            jobs: Mutex::new(jobs),
            agent: agent.clone(),
            debugger: AtomicBool::new(false),
            posts: AtomicU64::new(0),
            doing: Arc::new(Mutex::new("idle")),
            after_answer: Mutex::new(None),
            before_answer: Mutex::new(None),
        })
    }

    pub fn run(&self, job: impl FnOnce() + Send + 'static) {
        let _ = self.jobs.lock().expect("jobs").send(Box::new(job));
    }

    /// A job that holds the main thread for `time` in the frame `name`.
    pub fn blocking(&self, name: &'static str, time: Duration) -> impl FnOnce() + Send + 'static {
        let doing = self.doing.clone();
        move || {
            *doing.lock().expect("doing") = name;
            std::thread::sleep(time);
            *doing.lock().expect("doing") = "idle";
        }
    }

    /// Runs `job` on the main thread and waits until it is done.
    pub fn run_and_wait(&self, job: impl FnOnce() + Send + 'static) {
        let (done, finished) = channel();
        self.run(move || {
            job();
            let _ = done.send(());
        });
        finished
            .recv_timeout(PATIENCE)
            .expect("the main thread ran it");
    }
}

impl MainThread for Main {
    fn post(&self, tick: u64) {
        self.posts.fetch_add(1, Ordering::AcqRel);
        let agent = self.agent.clone();
        if let Some(job) = self.before_answer.lock().expect("before answer").take() {
            let _ = self.jobs.lock().expect("jobs").send(job);
        }
        self.run(move || agent.answer_hang_tick(tick));
        if let Some(job) = self.after_answer.lock().expect("after answer").take() {
            let _ = self.jobs.lock().expect("jobs").send(job);
        }
    }

    fn stack(&self) -> Option<String> {
        let doing = *self.doing.lock().expect("doing");
        Some(format!(
            "\tat Checkout.{doing}(Checkout.java:42)\n\tat Looper.loop(Looper.java:1)\n"
        ))
    }

    fn debugger_attached(&self) -> bool {
        self.debugger.load(Ordering::Acquire)
    }
}
