//! A closed pipe is not a crash: `mandate record show | head` ends quietly.

/// Make a panic caused by writing to a closed stdout exit quietly (status 141, as a
/// shell reports SIGPIPE) instead of printing a panic message; other panics keep the
/// default report.
pub fn quiet_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.contains("Broken pipe") || message.contains("failed printing to stdout") {
            std::process::exit(141);
        }
        default(info);
    }));
}
