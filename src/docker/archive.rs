//! Tar entries owned by the user Redis runs as: the node image's `/data` and config folder,
//! and the private config written into a container. Docker keeps a tar entry's owner.

/// The uid:gid Redis runs as, in the host-built image and the official `redis` image alike.
pub(crate) const REDIS_UID: u64 = 999;

fn owned_header(mode: u32, size: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_size(size);
    header.set_mode(mode);
    header.set_uid(REDIS_UID);
    header.set_gid(REDIS_UID);
    header
}

pub fn append_owned_dir(
    tar: &mut tar::Builder<Vec<u8>>,
    at: &str,
    mode: u32,
) -> std::io::Result<()> {
    let mut header = owned_header(mode, 0);
    header.set_entry_type(tar::EntryType::Directory);
    header.set_cksum();
    tar.append_data(&mut header, at, std::io::empty())
}

pub fn append_owned_file(
    tar: &mut tar::Builder<Vec<u8>>,
    at: &str,
    data: &[u8],
    mode: u32,
) -> std::io::Result<()> {
    let mut header = owned_header(mode, data.len() as u64);
    header.set_cksum();
    tar.append_data(&mut header, at, data)
}
