package dev.rollout.rum;

import static dev.rollout.rum.TestRunner.check;

import java.io.File;
import java.io.IOException;

/**
 * The HttpURLConnection uploader against a real collector (args: collector URL, SDK key, data
 * dir, marker dir). The collector is down when this starts: events must stay with the core while
 * HttpURLConnection gets no answer; this writes {@code offline-done} in the marker dir, the Rust
 * test brings the collector up and writes {@code collector-up}, and the same uploader thread must
 * then deliver them. Then a delivery with the collector up, a batch it rejects (wrong key), and a
 * 429 with Retry-After from a proxy in front of it, a collector that moved (308), and one that
 * trickles its answer forever.
 */
public final class HttpUploadApp {
    /** The key whose events tests/jvm.rs looks for. */
    static final String KEY = "java-http-user";
    private static final long MARKER_WAIT_MS = 120_000;

    private HttpUploadApp() {}

    /** Runs every check and exits 0 when all passed. */
    public static void main(String[] args) throws Exception {
        String url = args[0];
        String sdkKey = args[1];
        File dataDir = new File(args[2]);
        File markers = new File(args[3]);
        TestRunner t = new TestRunner();

        RumAgent offline = RumAgent.setup(config(sdkKey, url, new File(dataDir, "outage")));
        t.test("with the collector down, HttpURLConnection gets no answer and the core keeps the events", () -> {
            check(offline.httpUploader() != null, "no HttpURLConnection uploader");
            offline.identify(KEY);
            for (int i = 0; i < 3; i++) {
                offline.track("http.offline", (double) i, null);
            }
            check(!offline.flush(1_500), "flush succeeded with the collector down");
            check(offline.httpUploader().unanswered() >= 1, "no attempt was made");
            check(offline.httpUploader().answered() == 0, "something answered");
            check(offline.droppedCount("rejected") == 0, "the core dropped a batch it should retry");
        });
        t.test("once the collector is up, the same thread delivers them", () -> {
            touch(new File(markers, "offline-done"));
            check(await(new File(markers, "collector-up")), "the collector never came up");
            check(offline.flush(60_000), "not delivered after the collector came up");
            check(offline.httpUploader().answered() >= 1, "delivered by another path");
            check(offline.shutdown(), "shutdown lost data");
        });
        t.test("HttpURLConnection delivers with the collector up", () -> {
            RumAgent agent = RumAgent.setup(config(sdkKey, url, new File(dataDir, "online")));
            agent.identify(KEY);
            agent.track("http.online", 7.0, null);
            check(agent.flush(15_000), "flush timed out");
            check(agent.httpUploader().answered() >= 1, "no request answered");
            check(agent.httpUploader().unanswered() == 0, "a request got no answer");
            check(agent.shutdown(), "shutdown lost data");
        });
        t.test("a batch the collector rejects (unknown key) is dropped and counted, not retried", () -> {
            RumAgent agent = RumAgent.setup(config("not-a-known-key", url, new File(dataDir, "rejected")));
            agent.identify(KEY);
            agent.track("http.rejected");
            check(agent.flush(15_000), "a rejected batch kept the flush waiting (retried?)");
            check(agent.droppedCount("rejected") >= 1, "not counted as rejected");
            check(agent.shutdown(), "shutdown lost data");
        });
        t.test("a 429 from a proxy is retried no sooner than its Retry-After, then delivered once", () -> {
            try (ThrottlingProxy proxy = new ThrottlingProxy(url, 3)) {
                RumAgent agent = RumAgent.setup(config(sdkKey, proxy.url(), new File(dataDir, "throttled")));
                agent.identify(KEY);
                agent.track("http.throttled", 429.0, null);
                check(agent.flush(30_000), "not delivered after the 429");
                check(proxy.requests.size() >= 2, "the 429 was not retried");
                long[] first = proxy.requests.get(0);
                long[] second = proxy.requests.get(1);
                check(first[1] == 429 && second[1] == 202,
                        "statuses " + first[1] + ", " + second[1]);
                // A lower bound only: a correct retry can be late on a busy machine, never early.
                long waitedMs = (second[0] - first[0]) / 1_000_000L;
                // 3 s: longer than the first failure backoff (1 s nominal), so an ignored header shows.
                check(waitedMs >= 2_950, "retried after " + waitedMs + " ms, before Retry-After: 3");
                check(agent.droppedCount("rejected") == 0, "the throttled batch was dropped");
                check(agent.shutdown(), "shutdown lost data");
            }
        });
        t.test("a collector that moved (308) gets the batch where it went, once", () -> {
            try (MovedCollector moved = new MovedCollector(url)) {
                RumAgent agent = RumAgent.setup(config(sdkKey, moved.url(), new File(dataDir, "moved")));
                agent.identify(KEY);
                agent.track("http.moved", 308.0, null);
                check(agent.flush(15_000), "not delivered through the redirect");
                check(moved.redirected.get() >= 1, "the old address was not asked");
                check(agent.droppedCount("rejected") == 0, "the redirected batch was dropped");
                check(agent.shutdown(), "shutdown lost data");
            }
        });
        t.test("a redirect to another host is not followed: the SDK key and the data stay", () -> {
            // localhost is another host name than the collector's 127.0.0.1.
            check(url.contains("127.0.0.1"), url);
            try (MovedCollector moved = new MovedCollector(url.replace("127.0.0.1", "localhost"))) {
                RumAgent agent = RumAgent.setup(config(sdkKey, moved.url(), new File(dataDir, "elsewhere")));
                agent.identify(KEY);
                agent.track("http.elsewhere", 307.0, null);
                check(!agent.flush(3_000), "delivered through a redirect to another host");
                check(moved.redirected.get() >= 1, "the collector's address was not asked");
                agent.shutdown(0);
            }
        });
        t.test("headers trickled forever do not hold the upload thread past its deadline", () -> {
            long saved = HttpUploader.deadlineBaseMs;
            HttpUploader.deadlineBaseMs = 3_000;
            try (TricklingHeaders trickling = new TricklingHeaders()) {
                RumAgent agent = RumAgent.setup(config(sdkKey, trickling.url(), new File(dataDir, "slow-headers")));
                agent.identify(KEY);
                agent.track("http.slow.headers");
                agent.flush(0);
                long end = System.nanoTime() + 20_000_000_000L;
                HttpUploader uploader = agent.httpUploader();
                while (uploader.answered() + uploader.unanswered() == 0 && System.nanoTime() < end) {
                    Thread.sleep(100);
                }
                // Cut at the deadline: reported (the status line had come: as answered).
                check(uploader.answered() + uploader.unanswered() >= 1, "the upload was never cut");
                agent.shutdown(0);
            } finally {
                HttpUploader.deadlineBaseMs = saved;
            }
        });
        t.test("a response body trickled forever does not hold the upload thread", () -> {
            try (TricklingCollector trickling = new TricklingCollector()) {
                RumAgent agent = RumAgent.setup(config(sdkKey, trickling.url(), new File(dataDir, "trickled")));
                agent.identify(KEY);
                agent.track("http.trickled");
                // Reported once the body was read for DRAIN_LIMIT_MS (10 s); before, never.
                check(agent.flush(40_000), "the upload never finished reading the answer");
                check(agent.shutdown(), "shutdown lost data");
            }
        });
        System.exit(t.finish());
    }

    private static RumConfig config(String sdkKey, String url, File dataDir) {
        return RumConfig.builder(sdkKey, url).dataDir(dataDir.getPath()).flushIntervalMs(200)
                .syncFlags(false).installCrashHandler(false)
                .uploader(Uploader.HTTP_URL_CONNECTION).build();
    }

    private static void touch(File file) throws IOException {
        if (!file.createNewFile() && !file.exists()) {
            throw new IOException("cannot create " + file);
        }
    }

    private static boolean await(File file) throws InterruptedException {
        long deadline = System.nanoTime() + MARKER_WAIT_MS * 1_000_000L;
        while (!file.exists()) {
            if (System.nanoTime() > deadline) {
                return false;
            }
            Thread.sleep(20);
        }
        return true;
    }
}
