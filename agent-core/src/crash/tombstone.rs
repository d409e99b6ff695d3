//! Android's tombstone of a native crash: the protobuf `Tombstone` message of debuggerd's
//! `tombstone.proto`, which `ApplicationExitInfo.getTraceInputStream` gives from Android 12. Read
//! here for what a crash report needs: the signal, the abort message or first cause, and the
//! crashing thread's backtrace, written as Android writes them in its text tombstones.
//!
//! Only the fields used are read (by number; unknown ones are skipped, as protobuf allows), and a
//! message cut short (a platform reads only the head of a large tombstone) gives what it holds.

use std::fmt::Write;

/// What a tombstone says of a native crash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NativeCrash {
    /// `signal 11 (SIGSEGV), code 1 (SEGV_MAPERR), fault addr 0x0`, then the abort message or the
    /// first cause when there is one.
    pub(crate) message: String,
    /// The crashing thread's name and frames, one `#00 pc …` line each; None without frames.
    pub(crate) stack: Option<String>,
}

/// One field's value in the protobuf wire format.
enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    /// A fixed-size value: no field read here has one.
    Fixed,
}

/// Reads the fields of one protobuf message, in order, until the end or a field cut short.
struct Fields<'a> {
    bytes: &'a [u8],
}

impl<'a> Fields<'a> {
    fn varint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = self.bytes.split_first()?;
            self.bytes = rest;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.bytes.len() {
            return None;
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Some(head)
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = (u64, Value<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        let key = self.varint()?;
        let value = match key & 7 {
            0 => Value::Varint(self.varint()?),
            1 => self.take(8).map(|_| Value::Fixed)?,
            2 => {
                let n = usize::try_from(self.varint()?).ok()?;
                Value::Bytes(self.take(n)?)
            }
            5 => self.take(4).map(|_| Value::Fixed)?,
            // Groups (3, 4) are not in this schema: nothing after them can be read.
            _ => return None,
        };
        Some((key >> 3, value))
    }
}

fn fields(bytes: &[u8]) -> Fields<'_> {
    Fields { bytes }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The `Signal` message: `signal 11 (SIGSEGV), code 1 (SEGV_MAPERR), fault addr 0x0`; None
/// without a signal number (no crash has signal 0: these bytes are no tombstone).
fn signal_line(bytes: &[u8]) -> Option<String> {
    let (mut number, mut name, mut code, mut code_name) = (0, String::new(), 0, String::new());
    // proto3 leaves out fields at their default: an address 0 is said by `has_fault_address`.
    let (mut has_fault, mut fault) = (false, 0);
    for (field, value) in fields(bytes) {
        match (field, value) {
            // int32 fields are sign-extended varints: the low 32 bits hold the value.
            (1, Value::Varint(v)) => number = v as i32,
            (2, Value::Bytes(b)) => name = text(b),
            (3, Value::Varint(v)) => code = v as i32,
            (4, Value::Bytes(b)) => code_name = text(b),
            (8, Value::Varint(v)) => has_fault = v != 0,
            (9, Value::Varint(v)) => fault = v,
            _ => {}
        }
    }
    if number == 0 {
        return None;
    }
    let mut line = format!("signal {number} ({name}), code {code} ({code_name})");
    if has_fault {
        let _ = write!(line, ", fault addr {fault:#x}");
    }
    Some(line)
}

/// One `BacktraceFrame` as Android's text tombstones write it:
/// `#00 pc 000000000004f8ac  /system/lib64/libc.so (abort+164) (BuildId: …)`.
fn frame_line(index: usize, bytes: &[u8], pc_digits: usize) -> String {
    let (mut rel_pc, mut function, mut offset) = (0, String::new(), 0);
    let (mut file, mut build_id) = (String::new(), String::new());
    for (field, value) in fields(bytes) {
        match (field, value) {
            (1, Value::Varint(v)) => rel_pc = v,
            (4, Value::Bytes(b)) => function = text(b),
            (5, Value::Varint(v)) => offset = v,
            (6, Value::Bytes(b)) => file = text(b),
            (8, Value::Bytes(b)) => build_id = text(b),
            _ => {}
        }
    }
    let mut line = format!("#{index:02} pc {rel_pc:0pc_digits$x}  {file}");
    if !function.is_empty() {
        let _ = write!(line, " ({function}+{offset})");
    }
    if !build_id.is_empty() {
        let _ = write!(line, " (BuildId: {build_id})");
    }
    line
}

/// A `Thread` message's id (field 1; 0 when left out, as proto3 does at the default).
fn thread_id(bytes: &[u8]) -> u64 {
    fields(bytes)
        .find_map(|f| match f {
            (1, Value::Varint(v)) => Some(v),
            _ => None,
        })
        .unwrap_or(0)
}

/// A `Thread` message's text: `"name" tid=id` and its frames; None without frames.
fn thread(bytes: &[u8], pc_digits: usize) -> Option<String> {
    let (mut id, mut name, mut frames) = (0, String::new(), Vec::new());
    for (field, value) in fields(bytes) {
        match (field, value) {
            (1, Value::Varint(v)) => id = v,
            (2, Value::Bytes(b)) => name = text(b),
            (4, Value::Bytes(b)) => frames.push(frame_line(frames.len(), b, pc_digits)),
            _ => {}
        }
    }
    (!frames.is_empty()).then(|| format!("\"{name}\" tid={id}\n{}", frames.join("\n")))
}

/// Reads a tombstone; None when it holds no signal (not a tombstone, or cut before it). The stack
/// is the crashing thread's, None when that thread is not in it.
pub(crate) fn read(bytes: &[u8]) -> Option<NativeCrash> {
    // Absent fields are at proto3's defaults: arch 0 is 32-bit ARM.
    let (mut arch, mut tid, mut signal) = (0, 0, None);
    let (mut abort, mut cause) = (String::new(), String::new());
    let mut threads = Vec::new();
    for (field, value) in fields(bytes) {
        match (field, value) {
            (1, Value::Varint(v)) => arch = v,
            (6, Value::Varint(v)) => tid = v,
            (10, Value::Bytes(b)) => signal = signal_line(b),
            (14, Value::Bytes(b)) => abort = text(b),
            (15, Value::Bytes(b)) if cause.is_empty() => {
                for (field, value) in fields(b) {
                    if let (1, Value::Bytes(human)) = (field, value) {
                        cause = text(human);
                    }
                }
            }
            // A map entry: key 1 (the thread id), value 2 (the thread).
            (16, Value::Bytes(entry)) => threads.extend(fields(entry).filter_map(|f| match f {
                (2, Value::Bytes(t)) => Some(t),
                _ => None,
            })),
            _ => {}
        }
    }
    let mut message = signal?;
    for said in [abort, cause] {
        if !said.is_empty() {
            message.push_str(": ");
            message.push_str(&said);
            break;
        }
    }
    // 32-bit ARM and x86 (0, 2) print 8 hex digits of pc, the 64-bit ones 16.
    let pc_digits = if arch == 0 || arch == 2 { 8 } else { 16 };
    // The crashing thread's, or none: another thread's frames would mislead (a tombstone cut
    // short may lack the crashing thread).
    let stack = threads
        .iter()
        .find(|t| thread_id(t) == tid)
        .and_then(|t| thread(t, pc_digits));
    Some(NativeCrash { message, stack })
}

#[cfg(test)]
mod tests {
    use base64::Engine;

    use super::*;

    /// Encoded by protoc's Python runtime (protobuf 6) from AOSP's `tombstone.proto`
    /// (platform/system/core, debuggerd/proto): an arm64 SIGABRT with an abort message and a
    /// cause, two threads (the crashing one, 4250, second), registers, a memory mapping and the
    /// other fields a tombstone has, which the reader skips.
    const ABORT: &str = "CAESPGdvb2dsZS9zZGtfZ3Bob25lNjRfYXJtNjQvZW11NjRhOjE0L1VFMUEvMTp1c2VyL3JlbGVhc2Uta2V5cyiSITCaITiLT0oPY29tLmV4YW1wbGUuYXBwUigIBhIHU0lHQUJSVBj///////////8BIghTSV9US0lMTCgBMItPOJIhch9DaGVjayBmYWlsZWQ6IGJ1ZmZlciAhPSBudWxscHRyehoKGG51bGwgcG9pbnRlciBkZXJlZmVyZW5jZYIBjgIImiESiAIImiESDFJlbmRlclRocmVhZCJKCPjvFiIFYWJvcnQopAEyLi9hcGV4L2NvbS5hbmRyb2lkLnJ1bnRpbWUvbGliNjQvYmlvbmljL2xpYmMuc29CCmFiMzRjMGZmZWUiXgis8QciHFJlbmRlcmVyOjpkcmF3KEZyYW1lIGNvbnN0JikoLDI4L2RhdGEvYXBwL35+eHl6PT0vY29tLmV4YW1wbGUuYXBwLTEvbGliL2FybTY0L2xpYmdhbWUuc28iPgiQwAoyOC9kYXRhL2FwcC9+fnh5ej09L2NvbS5leGFtcGxlLmFwcC0xL2xpYi9hcm02NC9saWJnYW1lLnNvMP///////////wGCAXAIkiESawiSIRILZXhhbXBsZS5hcHAaBAoCeDAiUwi4gxcQuIOXgID+ASINX19lcG9sbF9wd2FpdCgIMi4vYXBleC9jb20uYW5kcm9pZC5ydW50aW1lL2xpYjY0L2Jpb25pYy9saWJjLnNvQgRhYTExigEOCIAgEIBAOgZbYW5vbl2gASU=";
    /// The same way: a 32-bit ARM SIGSEGV at address 0 (arch and address left out, at their
    /// defaults), one thread.
    const SEGV: &str = "ME1SHAgLEgdTSUdTRUdWGAEiC1NFR1ZfTUFQRVJSQAGCAScITRIjCE0SBG1haW4iGQjv/QIyEy9zeXN0ZW0vbGliL2xpYmMuc28=";

    fn bytes(base64: &str) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD
            .decode(base64)
            .expect("base64")
    }

    #[test]
    fn an_abort_gives_its_message_and_the_crashing_threads_frames() {
        let crash = read(&bytes(ABORT)).expect("a tombstone");
        assert_eq!(
            crash.message,
            "signal 6 (SIGABRT), code -1 (SI_TKILL): Check failed: buffer != nullptr"
        );
        assert_eq!(
            crash.stack.as_deref(),
            Some(
                "\"RenderThread\" tid=4250\n\
                 #00 pc 000000000005b7f8  /apex/com.android.runtime/lib64/bionic/libc.so (abort+164) (BuildId: ab34c0ffee)\n\
                 #01 pc 000000000001f8ac  /data/app/~~xyz==/com.example.app-1/lib/arm64/libgame.so (Renderer::draw(Frame const&)+44)\n\
                 #02 pc 000000000002a010  /data/app/~~xyz==/com.example.app-1/lib/arm64/libgame.so"
            )
        );
    }

    #[test]
    fn defaults_left_out_are_read_as_proto3_defaults() {
        let crash = read(&bytes(SEGV)).expect("a tombstone");
        assert_eq!(
            crash.message,
            "signal 11 (SIGSEGV), code 1 (SEGV_MAPERR), fault addr 0x0"
        );
        assert_eq!(
            crash.stack.as_deref(),
            Some("\"main\" tid=77\n#00 pc 0000beef  /system/lib/libc.so")
        );
    }

    #[test]
    fn a_tombstone_cut_short_gives_what_it_holds() {
        let whole = bytes(ABORT);
        for end in 0..whole.len() {
            // Never a panic; a signal once it is whole.
            let _ = read(&whole[..end]);
        }
        assert!(read(&whole[..20]).is_none(), "cut before the signal");
        let cut = read(&whole[..whole.len() - 200]).expect("the signal is in");
        assert!(cut.message.starts_with("signal 6 (SIGABRT)"));
        assert!(read(b"not a tombstone at all").is_none());
    }

    /// Encoded as above: the crashing thread (99) is not among the threads (a tombstone cut
    /// short), one other thread is.
    const WITHOUT_CRASHING_THREAD: &str = "CAEwY1IgCAsSB1NJR1NFR1YYAiILU0VHVl9BQ0NFUlJAAUitvQOCASgITRIkCE0SBW90aGVyIhkIEDIVL3N5c3RlbS9saWI2NC9saWJjLnNv";

    #[test]
    fn no_stack_rather_than_another_threads() {
        let crash = read(&bytes(WITHOUT_CRASHING_THREAD)).expect("a tombstone");
        assert_eq!(
            crash.message,
            "signal 11 (SIGSEGV), code 2 (SEGV_ACCERR), fault addr 0xdead"
        );
        assert_eq!(crash.stack, None);
    }

    #[test]
    fn text_is_no_tombstone() {
        // Field 10 (key 0x52) holding bytes that read as an empty Signal: signal 0.
        assert!(read(b"R\x02\x12\x00").is_none());
        let dump = "----- pid 4242 at 2026-12-07 -----\nCmd line: com.example.app\n\n";
        for start in 0..dump.len() {
            if let Some(crash) = read(&dump.as_bytes()[start..]) {
                assert!(!crash.message.starts_with("signal 0 "), "{crash:?}");
            }
        }
    }
}
