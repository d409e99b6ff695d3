package dev.rollout.rum;

/** Which HTTP stack sends the batches; the core decides retries, backoff and drops either way. */
public enum Uploader {
    /** The native (Rust, rustls) uploader thread inside the library. The default. */
    RUST,
    /**
     * A Java daemon thread ("rum-agent-http") that pulls batches from the core and POSTs them with
     * {@link java.net.HttpURLConnection}, so the platform's proxy, TLS and network-security
     * settings apply. Flag definitions are still fetched by the library.
     */
    HTTP_URL_CONNECTION
}
