use tandem_tests::*;

#[test]
fn smoke_build() {
    let bin = tandem_bin();
    assert!(bin.exists(), "{}", bin.display());
}
