namespace BpfTraceSim.Kernel;

/// <summary>Linux errno values (include/uapi/asm-generic/errno-base.h, errno.h). Helpers return them negated.</summary>
public static class Errno
{
    public const int EPERM = 1;
    public const int ENOENT = 2;
    public const int ESRCH = 3;
    public const int E2BIG = 7;
    /// <summary>EBADF: bpf() given a number that is no open fd (bpf_prog_get for a prog array slot).</summary>
    public const int EBADF = 9;
    public const int EAGAIN = 11;
    public const int ENOMEM = 12;
    public const int EACCES = 13;
    public const int EFAULT = 14;
    public const int EBUSY = 16;
    public const int EEXIST = 17;
    public const int EINVAL = 22;
    public const int ENOSPC = 28;
    public const int ERANGE = 34;
    public const int EOVERFLOW = 75;
    public const int EOPNOTSUPP = 95;
    /// <summary>ENOTSUPP (include/linux/errno.h, kernel-internal): what the verifier returns for bpf_get_func_ip where it is not supported.</summary>
    public const int ENOTSUPP = 524;

    /// <summary>The symbolic name of an errno (positive or negated), or null.</summary>
    public static string? Name(long errno) => Math.Abs(errno) switch
    {
        EPERM => "EPERM",
        ENOTSUPP => "ENOTSUPP",
        ENOENT => "ENOENT",
        ESRCH => "ESRCH",
        E2BIG => "E2BIG",
        EBADF => "EBADF",
        EAGAIN => "EAGAIN",
        ENOMEM => "ENOMEM",
        EACCES => "EACCES",
        EFAULT => "EFAULT",
        EBUSY => "EBUSY",
        EEXIST => "EEXIST",
        EINVAL => "EINVAL",
        ENOSPC => "ENOSPC",
        ERANGE => "ERANGE",
        EOVERFLOW => "EOVERFLOW",
        EOPNOTSUPP => "EOPNOTSUPP",
        _ => null,
    };
}
