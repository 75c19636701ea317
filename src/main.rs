fn main() -> std::process::ExitCode {
    keyshell::cli::main()
}
