//! Command handlers grouped by concern, beside the ones in `lib.rs` that
//! only pass a request to the session.

mod calls;
mod identity;
