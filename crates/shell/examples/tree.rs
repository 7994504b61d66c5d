//! Print tree-sitter-bash's syntax tree and mandate's analysis of a command line:
//! `cargo run -p mandate-shell --example tree -- 'cat a | sh'`.

fn main() {
    let source = std::env::args().skip(1).collect::<Vec<_>>().join(" ");
    let mut parser = tree_sitter::Parser::new();
    if parser
        .set_language(&tree_sitter_bash::LANGUAGE.into())
        .is_err()
    {
        eprintln!("the Bash grammar does not match the tree-sitter runtime");
        return;
    }
    if let Some(tree) = parser.parse(&source, None) {
        println!("{}", tree.root_node().to_sexp());
    }
    println!("{:#?}", mandate_shell::analyze(&source));
}
