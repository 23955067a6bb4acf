//! The web content of the default world, embedded in the binary and written out to a web
//! server's document root when the world starts.

use std::path::Path;

/// When the embedded sites were published (2026-01-01T00:00:00Z), in Unix seconds.
pub const PUBLISHED: u64 = 1_767_225_600;

/// An embedded site: its name and its files (path relative to the document root, bytes).
pub type Site = (&'static str, &'static [(&'static str, &'static [u8])]);

/// Every embedded site.
pub const SITES: &[Site] = &[
    (
        "www.netcinema.com",
        &[
            (
                "index.html",
                include_bytes!("../site/www.netcinema.com/index.html"),
            ),
            (
                "health.txt",
                include_bytes!("../site/www.netcinema.com/health.txt"),
            ),
        ],
    ),
    (
        "www.someschool.edu",
        &[
            (
                "index.html",
                include_bytes!("../site/www.someschool.edu/index.html"),
            ),
            (
                "someDepartment/home.index",
                include_bytes!("../site/www.someschool.edu/someDepartment/home.index"),
            ),
            (
                "someDepartment/pic1.jpg",
                include_bytes!("../site/www.someschool.edu/someDepartment/pic1.jpg"),
            ),
            (
                "someDepartment/pic10.jpg",
                include_bytes!("../site/www.someschool.edu/someDepartment/pic10.jpg"),
            ),
            (
                "someDepartment/pic2.jpg",
                include_bytes!("../site/www.someschool.edu/someDepartment/pic2.jpg"),
            ),
            (
                "someDepartment/pic3.jpg",
                include_bytes!("../site/www.someschool.edu/someDepartment/pic3.jpg"),
            ),
            (
                "someDepartment/pic4.jpg",
                include_bytes!("../site/www.someschool.edu/someDepartment/pic4.jpg"),
            ),
            (
                "someDepartment/pic5.jpg",
                include_bytes!("../site/www.someschool.edu/someDepartment/pic5.jpg"),
            ),
            (
                "someDepartment/pic6.jpg",
                include_bytes!("../site/www.someschool.edu/someDepartment/pic6.jpg"),
            ),
            (
                "someDepartment/pic7.jpg",
                include_bytes!("../site/www.someschool.edu/someDepartment/pic7.jpg"),
            ),
            (
                "someDepartment/pic8.jpg",
                include_bytes!("../site/www.someschool.edu/someDepartment/pic8.jpg"),
            ),
            (
                "someDepartment/pic9.jpg",
                include_bytes!("../site/www.someschool.edu/someDepartment/pic9.jpg"),
            ),
            (
                "somedir/page.html",
                include_bytes!("../site/www.someschool.edu/somedir/page.html"),
            ),
        ],
    ),
];

/// The files of the embedded site `name`.
pub fn site(name: &str) -> Option<&'static [(&'static str, &'static [u8])]> {
    SITES
        .iter()
        .find(|(site, _)| site.eq_ignore_ascii_case(name))
        .map(|(_, files)| *files)
}

/// Writes the embedded site `name` under `root`, replacing files of the same names (the world
/// file is the source of truth); files written there by PUT stay.
pub fn write_site(name: &str, root: &Path) -> std::io::Result<()> {
    let files = site(name).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("no embedded site named {name}"),
        )
    })?;
    for (path, bytes) in files {
        let target = root.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&target, bytes)?;
        // The site's files carry its publication date rather than the moment the world
        // started, so that their Last-Modified is honest and caches can use it (RFC 9111
        // §4.2.2 heuristic freshness).
        std::fs::File::options()
            .write(true)
            .open(&target)?
            .set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(PUBLISHED))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_someschool_site_has_the_page_and_its_ten_images() {
        let files = site("www.someschool.edu").unwrap();
        let page = files
            .iter()
            .find(|(path, _)| *path == "someDepartment/home.index")
            .unwrap();
        let html = String::from_utf8_lossy(page.1);
        for number in 1..=10 {
            let image = format!("pic{number}.jpg");
            assert!(
                html.contains(&format!("src=\"{image}\"")),
                "page lacks {image}"
            );
            let file = files
                .iter()
                .find(|(path, _)| *path == format!("someDepartment/{image}"))
                .unwrap();
            assert_eq!(&file.1[..3], b"\xff\xd8\xff", "{image} is not a JPEG");
        }
    }
}
