package dev.rollout.rum;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.HttpURLConnection;
import java.net.URL;

/**
 * The {@link Uploader#HTTP_URL_CONNECTION} path: a daemon thread that pulls batches from the core,
 * POSTs them with {@link HttpURLConnection} exactly as the core built them (headers and gzip body
 * as the Rust uploader sends them) and reports each outcome back, so the core's retries, backoff,
 * 413 splitting, drops and spool apply unchanged. Between uploads it sleeps in the core until a
 * batch is sealed, a flush asks, or the agent stops.
 */
final class HttpUploader implements Runnable {
    /** Name of the thread. */
    static final String THREAD_NAME = "rum-agent-http";
    /** Connect timeout, as the Rust uploader's. */
    static final int CONNECT_TIMEOUT_MS = 5_000;
    /** Read timeout, as the Rust uploader's request timeout. */
    static final int READ_TIMEOUT_MS = 10_000;
    /** Pause after an unexpected failure of the loop itself, so it cannot spin. */
    private static final long FAILURE_PAUSE_MS = 1_000;
    /** Longest time spent reading one response body: a server trickling bytes, each within the
     * read timeout, must not hold the upload thread (and every later upload) for good. */
    static final long DRAIN_LIMIT_MS = READ_TIMEOUT_MS;
    /** Most redirects followed for one upload. */
    private static final int MAX_REDIRECTS = 3;
    /**
     * Longest time one upload may take before its connection is cut, whatever the timeouts of
     * its parts allow (headers trickled a byte at a time within the read timeout, a write into a
     * dead mobile connection, which has no timeout): this, plus 1 ms per 8 bytes of body (a
     * slow link). Package-private so that the tests can shorten it.
     */
    static volatile long deadlineBaseMs = 30_000;
    /** Cuts uploads past their deadline (one daemon thread for the process, made when first used). */
    private static final java.util.Timer WATCHDOG = new java.util.Timer("rum-agent-http-watchdog", true);

    private final RumAgent agent;
    private final String base;
    private volatile long answered;
    private volatile long unanswered;

    private HttpUploader(RumAgent agent, String collectorUrl) {
        this.agent = agent;
        String url = collectorUrl.trim();
        while (url.endsWith("/")) {
            url = url.substring(0, url.length() - 1);
        }
        this.base = url;
    }

    /** Starts the thread for {@code agent}; it ends by itself once the agent is shut down. */
    static HttpUploader start(RumAgent agent, String collectorUrl) {
        HttpUploader uploader = new HttpUploader(agent, collectorUrl);
        Thread thread = new Thread(uploader, THREAD_NAME);
        thread.setDaemon(true);
        thread.start();
        return uploader;
    }

    /** Requests the collector answered (any status), for diagnostics and tests. */
    long answered() {
        return answered;
    }

    /** Requests that got no answer (refused, timed out…). */
    long unanswered() {
        return unanswered;
    }

    @Override
    public void run() {
        Object[] out = new Object[4];
        while (true) {
            try {
                long next = agent.pullUpload(out);
                if (next == Native.UPLOAD_DONE) {
                    return;
                }
                if (next == Native.UPLOAD_READY) {
                    send(out);
                    java.util.Arrays.fill(out, null);
                } else {
                    agent.waitForUploadWork(next);
                }
            } catch (Throwable unexpected) {
                // Never let the uploader take the app down (this thread has the app's crash
                // handler); pause and go on, the core still holds the batch.
                if (!agent.isLive()) {
                    return;
                }
                sleep(FAILURE_PAUSE_MS);
            }
        }
    }

    private void send(Object[] request) {
        String id = (String) request[0];
        String path = (String) request[1];
        String[] headers = (String[]) request[2];
        byte[] body = (byte[]) request[3];
        int status = 0;
        String retryAfter = null;
        HttpURLConnection connection = null;
        // The connection under way, for the watchdog: disconnecting it from there makes the
        // blocked write or read throw, and the upload counts as unanswered.
        HttpURLConnection[] current = new HttpURLConnection[1];
        java.util.TimerTask cut = new java.util.TimerTask() {
            @Override
            public void run() {
                HttpURLConnection c;
                synchronized (current) {
                    c = current[0];
                }
                try {
                    if (c != null) {
                        c.disconnect();
                    }
                } catch (RuntimeException ignored) {
                    // The timer thread must live on for the next uploads.
                }
            }
        };
        try {
            WATCHDOG.schedule(cut, deadlineBaseMs + body.length / 8);
        } catch (IllegalStateException timerGone) {
            // No watchdog then: the connect and read timeouts still apply.
        }
        try {
            URL url = new URL(base + path);
            for (int hop = 0; ; hop++) {
                connection = post(url, headers, body, current);
                status = connection.getResponseCode();
                String location = connection.getHeaderField("Location");
                if (!isRedirect(status) || location == null || hop == MAX_REDIRECTS) {
                    break;
                }
                // A moved collector (http to https, a new path): the batch goes where it is
                // sent, still as a POST; HttpURLConnection follows none of these for a POST
                // with a body. Only on the collector's host, and never from https to http: the
                // SDK key and the users' data go along.
                URL next = new URL(url, location);
                if (!sameCollector(url, next)) {
                    break;
                }
                drain(connection, status);
                url = next;
            }
            retryAfter = connection.getHeaderField("Retry-After");
            drain(connection, status);
            answered++;
        } catch (Throwable noAnswer) {
            // No answer (refused, DNS, TLS, timeout, or an Error such as a missing TLS
            // provider): the core backs off and retries.
            status = 0;
            unanswered++;
        } finally {
            cut.cancel();
            try {
                if (connection != null && status == 0) {
                    connection.disconnect();
                }
            } finally {
                // Always: the core holds the batch in flight until it hears how it went.
                agent.reportUpload(id, status, retryAfter);
            }
        }
    }

    private HttpURLConnection post(URL url, String[] headers, byte[] body,
            HttpURLConnection[] current) throws IOException {
        HttpURLConnection connection = (HttpURLConnection) url.openConnection();
        synchronized (current) {
            current[0] = connection;
        }
        try {
            connection.setRequestMethod("POST");
            connection.setConnectTimeout(CONNECT_TIMEOUT_MS);
            connection.setReadTimeout(READ_TIMEOUT_MS);
            connection.setUseCaches(false);
            connection.setInstanceFollowRedirects(false);
            connection.setDoOutput(true);
            for (int i = 0; i + 1 < headers.length; i += 2) {
                connection.setRequestProperty(headers[i], headers[i + 1]);
            }
            connection.setFixedLengthStreamingMode(body.length);
            try (OutputStream stream = connection.getOutputStream()) {
                stream.write(body);
            }
            return connection;
        } catch (IOException | RuntimeException failed) {
            // Not handed back: its socket would be left to the GC (StrictMode reports that).
            connection.disconnect();
            throw failed;
        }
    }

    /** Whether a redirect from {@code from} to {@code to} stays with the collector: the same
     * host, and the same scheme or an upgrade from http to https. */
    static boolean sameCollector(URL from, URL to) {
        String scheme = from.getProtocol();
        boolean secure = to.getProtocol().equals(scheme)
                || (scheme.equals("http") && to.getProtocol().equals("https"));
        return secure && to.getHost().equalsIgnoreCase(from.getHost());
    }

    private static boolean isRedirect(int status) {
        return status == 301 || status == 302 || status == 307 || status == 308;
    }

    /** Reads the (small) response body so the connection can be reused. */
    private static void drain(HttpURLConnection connection, int status) {
        long deadline = System.nanoTime() + DRAIN_LIMIT_MS * 1_000_000L;
        try (InputStream stream = status >= 400 ? connection.getErrorStream()
                : connection.getInputStream()) {
            if (stream == null) {
                return;
            }
            byte[] buffer = new byte[1024];
            while (stream.read(buffer) >= 0) {
                if (System.nanoTime() - deadline > 0) {
                    // The answer is known; the connection is not worth keeping.
                    connection.disconnect();
                    return;
                }
            }
        } catch (IOException ignored) {
            // The status is what matters; a body cut short only costs the connection's reuse.
        }
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
