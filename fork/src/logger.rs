//! Where the manager reports what it does: the `log` facade, or a logger
//! of the caller's choosing.

use std::fmt;

/// The target of the manager's own events.
pub(crate) const EVENTS: &str = "forkwise_fork";
/// The target of captured worker output sent to the log.
pub(crate) const OUTPUT: &str = "forkwise_fork::output";

/// The manager's logger: the global `log` facade unless the builder was
/// given one.
pub(crate) struct Logger {
    custom: Option<Box<dyn log::Log>>,
}

impl Logger {
    pub(crate) fn global() -> Self {
        Self { custom: None }
    }

    pub(crate) fn custom(logger: Box<dyn log::Log>) -> Self {
        Self {
            custom: Some(logger),
        }
    }

    /// Logs `args` at `level` under `target`, if the logger wants it.
    pub(crate) fn log(&self, level: log::Level, target: &str, args: fmt::Arguments<'_>) {
        let metadata = log::Metadata::builder().level(level).target(target).build();
        let record = log::Record::builder()
            .metadata(metadata.clone())
            .args(args)
            .module_path_static(Some(module_path!()))
            .build();
        match &self.custom {
            Some(logger) => {
                if logger.enabled(&metadata) {
                    logger.log(&record);
                }
            }
            None => {
                if level <= log::max_level() && log::logger().enabled(&metadata) {
                    log::logger().log(&record);
                }
            }
        }
    }

    /// Logs one of the manager's events.
    pub(crate) fn event(&self, level: log::Level, args: fmt::Arguments<'_>) {
        self.log(level, EVENTS, args);
    }
}

impl fmt::Debug for Logger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.custom.is_some() {
            "Logger(custom)"
        } else {
            "Logger(log facade)"
        })
    }
}
