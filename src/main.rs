use clap::Parser;

fn main() {
    cairn::startup::cap_malloc_arenas();
    let cli = cairn::cli::Cli::parse();
    cairn::telemetry::init(cli.log_format());
    if let Err(e) = actix_web::rt::System::new().block_on(cairn::cli::run(cli)) {
        eprintln!("cairn: {e:#}");
        std::process::exit(1);
    }
}
