use ecr_login::exit::Code;

fn main() {
    ecr_login::logging::start_clock();
    // A bug must still end with its own exit code (70), not a signal or 101.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("ecr-login: internal error (a bug, please report it): {info}");
        std::process::exit(Code::Software.as_i32());
    }));
    let cli = match ecr_login::cli::Cli::from_command_line(std::env::args_os()) {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            let code = if err.use_stderr() {
                Code::Usage
            } else {
                Code::Ok
            };
            std::process::exit(code.as_i32());
        }
    };
    std::process::exit(ecr_login::run(cli).as_i32());
}
