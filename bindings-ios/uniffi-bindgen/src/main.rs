//! The workspace's uniffi-bindgen, pinned to the uniffi version `bindings-ios` links, so the
//! generated Swift and Python code always matches the scaffolding in the library.

fn main() {
    uniffi::uniffi_bindgen_main()
}
