fn main() {
    ecr_login::main()
}
