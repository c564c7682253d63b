// SPDX-License-Identifier: GPL-2.0-only
/*
 * pteguard_testmod - TEST-ONLY fault injector for the pteguard lab.
 *
 * DO NOT LOAD THIS ON A MACHINE YOU CARE ABOUT.  It damages page tables and
 * the page allocator on purpose so that a throw-away lab guest prints the real
 * kernel messages pteguard must recognise.  It is built into the lab image
 * only, taints the kernel (O, E) and exists for nothing else.
 *
 * Interface: the process that wants to be damaged writes one line to
 * /sys/kernel/debug/pteguard_testmod/ctl:
 *
 *   pte_beyond_ram ADDR   point the PTE of ADDR at a frame beyond RAM
 *                         -> "BUG: Bad page map in process" at unmap
 *   pte_reserved_bit ADDR set reserved bit 51 in the PTE of ADDR
 *                         -> "Corrupted page table at address" and
 *                            "Bad pagetable" on the next touch
 *   pmd_clear_rw ADDR     clear _PAGE_RW in the PMD covering ADDR
 *                         -> "bad pmd" at unmap
 *   bad_page_state        free an order-4 block whose mapcount is not zero
 *                         -> "BUG: Bad page state in process"
 *   oops                  read an unmapped vmalloc guard page
 *                         -> "BUG: unable to handle page fault for address",
 *                            RIP in pteguard_oops_read_unmapped
 *
 * ADDR must be a page of the writer's own address space, populated but not yet
 * touched (so no TLB entry caches the old translation), alone in its 2 MiB
 * PMD range (the lab's guest helper maps it at a fixed, otherwise empty
 * address).
 */
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/debugfs.h>
#include <linux/fs.h>
#include <linux/gfp.h>
#include <linux/mm.h>
#include <linux/pgtable.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>
#include <asm/processor.h>

#define CTL_MAX 128

static struct dentry *pteguard_dir;

/* Walk current->mm down to the PMD that covers addr (no huge mappings). */
static pmd_t *pteguard_find_pmd(struct mm_struct *mm, unsigned long addr)
{
	pgd_t *pgd;
	p4d_t *p4d;
	pud_t *pud;
	pmd_t *pmd;

	pgd = pgd_offset(mm, addr);
	if (pgd_none(*pgd) || pgd_bad(*pgd))
		return NULL;
	p4d = p4d_offset(pgd, addr);
	if (p4d_none(*p4d) || p4d_bad(*p4d))
		return NULL;
	pud = pud_offset(p4d, addr);
	if (pud_none(*pud) || pud_bad(*pud) || pud_large(*pud))
		return NULL;
	pmd = pmd_offset(pud, addr);
	if (pmd_none(*pmd) || pmd_bad(*pmd) || pmd_large(*pmd))
		return NULL;
	return pmd;
}

enum pteguard_pte_op { PTE_BEYOND_RAM, PTE_RESERVED_BIT };

static int pteguard_damage_pte(unsigned long addr, enum pteguard_pte_op op)
{
	struct mm_struct *mm = current->mm;
	unsigned long bogus_pfn;
	spinlock_t *ptl;
	pmd_t *pmd;
	pte_t *ptep;
	pte_t old, new;
	int ret = -EFAULT;

	if (!mm)
		return -EINVAL;
	mmap_read_lock(mm);
	pmd = pteguard_find_pmd(mm, addr);
	if (!pmd)
		goto out;
	ptep = pte_offset_map_lock(mm, pmd, addr, &ptl);
	old = *ptep;
	if (!pte_present(old)) {
		pte_unmap_unlock(ptep, ptl);
		goto out;
	}
	if (op == PTE_BEYOND_RAM) {
		/* The top of the physical address space: never RAM here. */
		bogus_pfn = (1UL << (boot_cpu_data.x86_phys_bits - PAGE_SHIFT)) - 16;
		new = pfn_pte(bogus_pfn, pte_pgprot(old));
	} else {
		new = __pte(pte_val(old) | (1UL << 51));
	}
	set_pte_at(mm, addr, ptep, new);
	pte_unmap_unlock(ptep, ptl);
	pr_warn("pteguard_testmod: %s at %lx: pte %lx -> %lx (test-only damage)\n",
		op == PTE_BEYOND_RAM ? "pte_beyond_ram" : "pte_reserved_bit",
		addr, (unsigned long)pte_val(old), (unsigned long)pte_val(new));
	ret = 0;
out:
	mmap_read_unlock(mm);
	return ret;
}

static int pteguard_damage_pmd(unsigned long addr)
{
	struct mm_struct *mm = current->mm;
	spinlock_t *ptl;
	pmd_t *pmd;
	pmd_t old;
	int ret = -EFAULT;

	if (!mm)
		return -EINVAL;
	mmap_read_lock(mm);
	pmd = pteguard_find_pmd(mm, addr);
	if (!pmd)
		goto out;
	ptl = pmd_lock(mm, pmd);
	old = *pmd;
	set_pmd(pmd, __pmd(pmd_val(old) & ~_PAGE_RW));
	spin_unlock(ptl);
	pr_warn("pteguard_testmod: pmd_clear_rw at %lx: pmd %lx -> %lx (test-only damage)\n",
		addr, (unsigned long)pmd_val(old), (unsigned long)pmd_val(*pmd));
	ret = 0;
out:
	mmap_read_unlock(mm);
	return ret;
}

static int pteguard_bad_page_state(void)
{
	struct page *page = alloc_pages(GFP_KERNEL, 4);

	if (!page)
		return -ENOMEM;
	pr_warn("pteguard_testmod: freeing order-4 block at pfn %lx with mapcount 1 (test-only damage)\n",
		page_to_pfn(page));
	atomic_set(&page->_mapcount, 0);
	__free_pages(page, 4);
	return 0;
}

static noinline int pteguard_oops_read_unmapped(void)
{
	char *area = vmalloc(PAGE_SIZE);
	unsigned long guard;

	if (!area)
		return -ENOMEM;
	/* vmalloc leaves an unmapped guard page after each area. */
	guard = (unsigned long)area + PAGE_SIZE + 64;
	pr_warn("pteguard_testmod: reading unmapped kernel address %lx (test-only oops)\n", guard);
	return READ_ONCE(*(int *)guard);
}

static ssize_t pteguard_ctl_write(struct file *file, const char __user *ubuf,
				  size_t len, loff_t *ppos)
{
	char buf[CTL_MAX];
	char op[32];
	unsigned long addr = 0;
	int n, ret;

	if (len == 0 || len >= CTL_MAX)
		return -EINVAL;
	if (copy_from_user(buf, ubuf, len))
		return -EFAULT;
	buf[len] = '\0';
	n = sscanf(buf, "%31s %lx", op, &addr);
	if (n < 1)
		return -EINVAL;

	if (!strcmp(op, "pte_beyond_ram") && n == 2)
		ret = pteguard_damage_pte(addr, PTE_BEYOND_RAM);
	else if (!strcmp(op, "pte_reserved_bit") && n == 2)
		ret = pteguard_damage_pte(addr, PTE_RESERVED_BIT);
	else if (!strcmp(op, "pmd_clear_rw") && n == 2)
		ret = pteguard_damage_pmd(addr);
	else if (!strcmp(op, "bad_page_state"))
		ret = pteguard_bad_page_state();
	else if (!strcmp(op, "oops"))
		ret = pteguard_oops_read_unmapped();
	else
		return -EINVAL;
	return ret < 0 ? ret : len;
}

static const struct file_operations pteguard_ctl_fops = {
	.owner = THIS_MODULE,
	.write = pteguard_ctl_write,
	.llseek = no_llseek,
};

static int __init pteguard_init(void)
{
	pteguard_dir = debugfs_create_dir("pteguard_testmod", NULL);
	debugfs_create_file("ctl", 0200, pteguard_dir, NULL, &pteguard_ctl_fops);
	pr_warn("pteguard_testmod: loaded; TEST-ONLY module that corrupts memory on request\n");
	return 0;
}

static void __exit pteguard_exit(void)
{
	debugfs_remove_recursive(pteguard_dir);
}

module_init(pteguard_init);
module_exit(pteguard_exit);
MODULE_LICENSE("GPL");
MODULE_AUTHOR("pteguard lab");
MODULE_DESCRIPTION("TEST-ONLY: damages page tables and page state on request, for the pteguard lab");
